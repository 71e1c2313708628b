"""Regenerate two-people.annotated.png (the README's picture): scikit-image's astronaut and
matplotlib's Grace Hopper side by side, run through `python -m infra.classify --annotate`.

    .venv/bin/python docs/images/two_people.py
"""
import sys
import tempfile
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE.parents[1] / "tests")]

from composites import astronaut, grace_hopper  # noqa: E402
from infra.classify import main  # noqa: E402

left, right = astronaut().convert("RGB"), grace_hopper().convert("RGB")
height = 512
right = right.resize((round(right.width * height / right.height), height))
photo = Image.new("RGB", (left.width + right.width, height))
photo.paste(left, (0, 0))
photo.paste(right, (left.width, 0))
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "two-people.jpg"
    photo.save(path, quality=92)
    sys.exit(main([str(path), "--annotate", str(HERE)]))
