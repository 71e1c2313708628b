"""One Markdown table of the candidates `train/gpu/candidates.sh` scored: each one's int8 FER2013
validation accuracy (four test-time views) and its accuracy on every real set, beside the shipped
models' committed figures.

    python -m train.gpu.scores /tmp/gpu-candidates
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REAL_SETS = ("taiwanese-dev", "yale", "rafd", "headshots")
MODELS = ("emotion4", "emotion7")


def row(label: str, model: str, quantization: Path, realphotos: Path) -> str:
    """``model``'s row: FER2013 validation from its quantization report, the real sets from
    bench.realphotos' JSON (blank where the report has no such set)."""
    fer_val = json.loads(quantization.read_text())["int8"]["accuracy"]
    report = json.loads(realphotos.read_text())["report"][model]
    cells = [f"{report[s]['service']['accuracy']:.3f}" if s in report else "" for s in REAL_SETS]
    return f"| {label} | {model} | {fer_val:.4f} | " + " | ".join(cells) + " |"


def table(scratch: Path, root: Path = ROOT) -> str:
    lines = ["| candidate | model | FER2013 val (int8, four views) | " + " | ".join(REAL_SETS) + " |",
             "|---" * (3 + len(REAL_SETS)) + "|"]
    lines += [row("shipped", m, root / f"reports/quantization/{m}.json", root / "reports/realphotos/realphotos.json")
              for m in MODELS]
    for folder in sorted(p for p in scratch.iterdir() if p.is_dir()):
        for report in sorted((folder / "r").glob("emotion*.json")):
            lines.append(row(folder.name, report.stem, report, folder / "real" / "realphotos.json"))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.gpu.scores", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scratch", type=Path,
                        help="candidates.sh's scratch folder: one folder per candidate, with r/ and real/")
    print(table(parser.parse_args(argv).scratch))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
