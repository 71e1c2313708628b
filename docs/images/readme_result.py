"""Regenerate the README's example result: scikit-image's astronaut photo as a PNG upload, run
through `python -m infra.local_pipeline astronaut.png --json`; the JSON block under "The result"
in README.md is replaced with what it printed (timings and the date are of that run).

    .venv/bin/python docs/images/readme_result.py
"""
import contextlib
import io
import json
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from composites import astronaut  # noqa: E402
from infra.local_pipeline import main  # noqa: E402

with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "astronaut.png"
    astronaut().save(path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main([str(path), "--json"])
text = out.getvalue()
start = text.index("\n{") + 1
result, _ = json.JSONDecoder().raw_decode(text[start:])
readme = ROOT / "README.md"
marker = "from `python -m infra.local_pipeline astronaut.png --json`:\n\n```json\n"
body = readme.read_text()
head, rest = body.split(marker, 1)
_, tail = rest.split("\n```\n", 1)
readme.write_text(head + marker + json.dumps(result, indent=2) + "\n```\n" + tail)
print(json.dumps(result, indent=2))
