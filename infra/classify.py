"""Classify image files on this machine, without S3: the function's own analysis, printed as
JSON, and optionally an annotated copy of each photo with boxes and labels drawn.

    python -m infra.classify photo.jpg [more.png ...] [--annotate out/] [--model emotion4]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "function"))

from emotion.analysis import analyze  # noqa: E402
from emotion.classifier import EmotionClassifier  # noqa: E402
from emotion.faces import load_detector  # noqa: E402
from emotion.imaging import ImageError  # noqa: E402
from emotion.settings import Settings  # noqa: E402

COLORS = {"happy": "#2ecc71", "neutral": "#95a5a6", "sad": "#3498db", "surprise": "#f1c40f",
          "angry": "#e74c3c", "disgust": "#8e44ad", "fear": "#e67e22"}


def annotate(data: bytes, faces: list[dict], out: Path) -> Path:
    """Draw each face's box and label on the photo (as displayed, EXIF orientation applied)."""
    import io
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    draw = ImageDraw.Draw(image)
    width = max(2, round(max(image.size) / 250))
    font = ImageFont.load_default(size=max(12, round(max(image.size) / 40)))
    for face in faces:
        b = face["box"]
        color = COLORS.get(face["emotion"], "#ffffff")
        x0, y0, x1, y1 = b["x"], b["y"], b["x"] + b["width"], b["y"] + b["height"]
        draw.rectangle((x0, y0, x1, y1), outline=color, width=width)
        label = f"{face['emotion']} {face['confidence']:.0%}"
        tx, ty = x0, max(0, y0 - font.size - 2 * width)
        draw.rectangle(draw.textbbox((tx, ty), label, font=font), fill=color)
        draw.text((tx, ty), label, fill="black", font=font)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out, format="PNG")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.classify", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="+", type=Path, help="image files")
    parser.add_argument("--model", default="emotion4", help="shipped emotion model (default: %(default)s)")
    parser.add_argument("--annotate", type=Path, metavar="DIR",
                        help="write <name>.annotated.png with boxes and labels into DIR")
    parser.add_argument("--no-face-detection", action="store_true", help="classify each image whole")
    args = parser.parse_args(argv)
    settings = Settings(model_name=args.model, face_detection=not args.no_face_detection)
    classifier = EmotionClassifier.load(settings.model_dir, settings.model_name)
    detector = load_detector(settings.model_dir, settings.face_detector) if settings.face_detection else None
    status = 0
    for path in args.images:
        data = path.read_bytes()
        try:
            analysis = analyze(data, settings, classifier, detector)
        except ImageError as err:
            print(json.dumps({"file": str(path), "error": {"code": err.code, "message": err.message}}))
            status = 1
            continue
        summary = [{k: f[k] for k in ("emotion", "confidence", "box", "detector_score")} for f in analysis.faces]
        print(json.dumps({"file": str(path), "detection": analysis.method, "faces": summary}))
        if args.annotate:
            out = annotate(data, analysis.faces, args.annotate / f"{path.stem}.annotated.png")
            print(f"annotated: {out}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
