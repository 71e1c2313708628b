"""How sure the real-photo figures are: accuracy intervals that resample people, not photos.

    python -m bench.person_intervals [--results reports/realphotos/realphotos.json] [--candidate OTHER.json]

Each real set shows a few people many times (taiwanese-dev: 14 performers in 342 four-emotion
photos), and one person's photos succeed or fail together, so a photo-level interval is too
narrow. This reads the answers `python -m bench.realphotos` stored (the service's and `fer`'s, and
a candidate's from another run of it), groups every set's photos by person (from the file names
the sets' README describes) and bootstraps over people: a 95% interval for each system's accuracy
and for each paired difference. Writes ``person_intervals.{json,md,png}`` beside ``--results``.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from bench.realphotos import DEFAULT_OUT, ROOT, TASKS, answer, answers_digest, largest_face_scores

RESAMPLES = 10_000
SEED = 0
# The person in a file name, per set (../shared/data/real/README.md).
PERSON = {
    "taiwanese-dev": re.compile(r"^(\d\d)"),  # PPTVXnn.jpg: PP, the performer
    "yale": re.compile(r"^(subject\d+)"),  # subject01.happy.gif
    "rafd": re.compile(r"^Rafd\d+_(\d+)_"),  # Rafd090_01_Caucasian_female_happy_frontal.jpg
    "headshots": re.compile(r"^(.+)_\d+\.\w+$"),  # Al_Gore_0002.jpg
}


def person(set_name: str, path: str) -> str:
    """The person a photo shows, or the photo itself where the set's names do not say."""
    name = Path(path).name
    match = PERSON[set_name].match(name) if set_name in PERSON else None
    return match.group(1) if match else name


def outcomes(systems: dict[str, dict], task: str) -> dict[str, tuple[list[str], dict[str, np.ndarray]]]:
    """Per set: the person of each photo labelled with one of the task's classes, and per system
    whether its answer was right (a face not found is wrong)."""
    classes = TASKS[task]
    paths = sorted(next(iter(systems.values()))["results"])
    out = {}
    for path in paths:
        set_name, label = Path(path).parent.parent.name, Path(path).parent.name
        if label not in classes:
            continue
        people, right = out.setdefault(set_name, ([], {name: [] for name in systems}))
        people.append(person(set_name, path))
        for name, results in systems.items():
            right[name].append(answer(largest_face_scores(results, path, task), classes) == label)
    return {s: (people, {n: np.array(r) for n, r in right.items()}) for s, (people, right) in out.items()}


def interval(people: list[str], values: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """The 95% interval of the mean of ``values`` (one per photo) when people are resampled."""
    names = sorted(set(people))
    index = {n: i for i, n in enumerate(names)}
    of = np.array([index[p] for p in people])
    sums, counts = np.bincount(of, values, len(names)), np.bincount(of, minlength=len(names))
    draws = rng.integers(0, len(names), (RESAMPLES, len(names)))
    means = sums[draws].sum(1) / counts[draws].sum(1)
    low, high = np.percentile(means, [2.5, 97.5])
    return round(float(low), 4), round(float(high), 4)


def intervals(systems: dict[str, dict]) -> dict:
    report = {}
    for task in TASKS:
        report[task] = {}
        for set_name, (people, right) in outcomes(systems, task).items():
            rng = np.random.default_rng(SEED)
            row = {"photos": len(people), "people": len(set(people))}
            for name, values in right.items():
                row[name] = {"accuracy": round(float(values.mean()), 4), "interval": interval(people, values, rng)}
            names = list(right)
            for other in names[1:]:
                diff = right[names[0]].astype(float) - right[other]
                row[f"{names[0]} - {other}"] = {"difference": round(float(diff.mean()), 4),
                                                "interval": interval(people, diff, rng)}
            report[task][set_name] = row
    return report


def write(report: dict, out: Path, sources: dict[str, str], service_answers: str) -> None:
    """The report as JSON (with ``service_answers``, the digest of the service's answers it was
    measured from), Markdown and a PNG in ``out``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    (out / "person_intervals.json").write_text(json.dumps(
        {"sources": sources, "service_answers_sha256": service_answers, "report": report}, indent=1) + "\n")
    lines = ["# Real-photo accuracy, resampling people", "",
             f"Written by `python -m bench.person_intervals` from {', '.join(f'`{v}` ({k})' for k, v in sources.items())}. "
             f"95% intervals from {RESAMPLES:,} bootstrap draws of each set's people (a person's photos go "
             "together); a difference is paired, photo by photo. An interval that holds 0 is no difference "
             "these people can show.", ""]
    fig, axes = plt.subplots(1, len(report), figsize=(6 * len(report), 4), squeeze=False)
    for ax, (task, sets) in zip(axes[0], report.items()):
        first = next(iter(sets.values()))
        systems = [k for k, v in first.items() if isinstance(v, dict) and "accuracy" in v]
        pairs = [k for k, v in first.items() if isinstance(v, dict) and "difference" in v]
        lines += [f"## {task}", "", "| set | photos | people | " + " | ".join(systems + pairs) + " |",
                  "|---|---|---|" + "---|" * (len(systems) + len(pairs))]
        for y, (set_name, row) in enumerate(sets.items()):
            cells = [f"{row[s]['accuracy']:.3f} ({row[s]['interval'][0]:.3f}-{row[s]['interval'][1]:.3f})" for s in systems]
            cells += [f"{row[p]['difference']:+.3f} ({row[p]['interval'][0]:+.3f} to {row[p]['interval'][1]:+.3f})"
                      for p in pairs]
            lines.append(f"| {set_name} | {row['photos']:,} | {row['people']} | " + " | ".join(cells) + " |")
            for k, s in enumerate(systems):
                low, high = row[s]["interval"]
                ax.errorbar(row[s]["accuracy"], y + 0.15 * (k - (len(systems) - 1) / 2),
                            xerr=[[row[s]["accuracy"] - low], [high - row[s]["accuracy"]]], fmt="o", capsize=3,
                            color=f"C{k}", label=s if y == 0 else None)
        lines.append("")
        ax.set(title=task, xlabel="accuracy (95% interval over people)", yticks=range(len(sets)),
               yticklabels=list(sets))
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "person_intervals.png", dpi=100)
    (out / "person_intervals.md").write_text("\n".join(lines))


def _shown(path: Path) -> str:
    """``path`` relative to the checkout where it is inside it."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.person_intervals", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=DEFAULT_OUT / "realphotos.json",
                        help="a realphotos.json of bench.realphotos: the service's and fer's answers "
                             "(default: %(default)s)")
    parser.add_argument("--candidate", type=Path,
                        help="another run's realphotos.json (bench.realphotos --model-dir): its service's "
                             "answers join as 'candidate', compared with the service's")
    parser.add_argument("--out", type=Path, help="folder for person_intervals.{json,md,png} (default: beside --results)")
    args = parser.parse_args(argv)
    shipped = json.loads(args.results.read_text())
    systems = {"service": shipped["service"], "fer": shipped["fer"]}
    sources = {"service, fer": _shown(args.results)}
    if args.candidate:
        systems = {"candidate": json.loads(args.candidate.read_text())["service"], **systems}
        sources["candidate"] = _shown(args.candidate)
    out = args.out or args.results.parent
    out.mkdir(parents=True, exist_ok=True)
    report = intervals(systems)
    write(report, out, sources, answers_digest(shipped["service"]))
    for task, sets in report.items():
        print(task + ": " + "; ".join(f"{s} {r['service']['accuracy']:.3f} ({r['service']['interval'][0]:.3f}-"
                                      f"{r['service']['interval'][1]:.3f}, {r['people']} people)" for s, r in sets.items()))
    print(f"wrote {out / 'person_intervals.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
