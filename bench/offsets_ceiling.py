"""How far per-class score offsets alone could move each real set: a diagnosis, never shipped.

    python -m bench.offsets_ceiling [--results reports/realphotos/realphotos.json] [--out reports/realphotos]

A model that reads one class too often (posed surprise read as neutral, say) could be a matter
of its priors: adding a constant to each class's log-probability would fix that without any
training. This takes the service's scores that ``python -m bench.realphotos`` stored, and for each
set finds the offsets that maximize that set's own accuracy (coordinate ascent over a grid; the
faces the service found, the largest face's scores). Tuned on the set it is scored on, the figure
is an upper bound for any recalibration, not a result; the table also scores every set's offsets
on the other sets, which says whether one correction could serve them all. Writes
``offsets_ceiling.md`` and ``.json`` into ``--out``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bench.realphotos import DEFAULT_OUT, TASKS

GRID = np.round(np.arange(-3.0, 3.0001, 0.25), 2)  # offsets in natural-log units
PASSES = 4
FLOOR = 1e-4  # stored scores are rounded to 4 decimals: keep log() finite


def set_scores(results: dict, task: str, labels: tuple[str, ...]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{set: (log-scores (N, C), true class indices (N,))}`` of the images the service found a face in."""
    rows: dict[str, tuple[list, list]] = {}
    for path, answer in results.items():
        parts = Path(path).parts
        name, label = parts[-3], parts[-2]
        found = answer.get(task) or {}
        if label not in labels or not found.get("faces"):
            continue
        x, y = rows.setdefault(name, ([], []))
        x.append([found["scores"][c] for c in labels])
        y.append(labels.index(label))
    return {name: (np.log(np.maximum(np.array(x), FLOOR)), np.array(y)) for name, (x, y) in sorted(rows.items())}


def accuracy(logs: np.ndarray, truth: np.ndarray, offsets: np.ndarray) -> float:
    return float(((logs + offsets).argmax(1) == truth).mean())


def best_offsets(logs: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Offsets (the first class held at 0) raising accuracy most, by coordinate ascent on GRID."""
    offsets = np.zeros(logs.shape[1])
    for _ in range(PASSES):
        for c in range(1, logs.shape[1]):
            trials = []
            for g in GRID:
                offsets[c] = g
                trials.append((accuracy(logs, truth, offsets), -abs(g), g))  # ties: the smaller offset
            offsets[c] = max(trials)[2]
    return offsets


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.offsets_ceiling", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=DEFAULT_OUT / "realphotos.json",
                        help="realphotos.json written by python -m bench.realphotos (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="folder for offsets_ceiling.md and .json (default: %(default)s)")
    args = parser.parse_args(argv)

    source = json.loads(args.results.read_text())
    results = source["service"]["results"]
    report, lines = {"source": str(args.results), "versions": source.get("versions"), "tasks": {}}, []
    lines += ["# Per-class offsets: the most they could do on each real set", "",
              f"From `{args.results.name}` ({source.get('date')}, models {source.get('versions')}) by "
              "`python -m bench.offsets_ceiling`. Each row's offsets are tuned on that row's own set "
              "(the faces the service found), so its own column is an upper bound, not a result; the other "
              "columns score those offsets on the other sets. Offsets are added to the log-probabilities, "
              "the first class held at 0.", ""]
    for task, labels in TASKS.items():
        sets = set_scores(results, task, labels)
        if not sets:
            continue
        names = list(sets)
        as_is = {n: accuracy(*sets[n], np.zeros(len(labels))) for n in names}
        tuned = {n: best_offsets(*sets[n]) for n in names}
        cross = {n: {m: accuracy(*sets[m], tuned[n]) for m in names} for n in names}
        report["tasks"][task] = {"as_is": as_is, "offsets": {n: dict(zip(labels, tuned[n].tolist())) for n in names},
                                 "accuracy_with_offsets_of": cross}
        lines += [f"## {task}", "", "| offsets tuned on | " + " | ".join(labels)
                  + " | " + " | ".join(names) + " |", "|---|" + "---|" * (len(labels) + len(names))]
        lines.append("| none (as shipped) | " + " | ".join("0" for _ in labels) + " | "
                     + " | ".join(f"{as_is[m]:.3f}" for m in names) + " |")
        for n in names:
            cells = [f"**{cross[n][m]:.3f}**" if m == n else f"{cross[n][m]:.3f}" for m in names]
            lines.append(f"| {n} | " + " | ".join(f"{o:+.2f}" for o in tuned[n]) + " | " + " | ".join(cells) + " |")
        lines.append("")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "offsets_ceiling.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "offsets_ceiling.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
