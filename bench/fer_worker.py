"""The `fer` package's own pipeline (OpenCV Haar cascade + its mini-Xception TFLite) on a list of
images, run in its own venv (.venv-bench-fer, made by bench/realphotos.py).

    python bench/fer_worker.py LIST.txt  ->  one JSON line per image: its faces' boxes and emotion scores

Images are decoded with Pillow (OpenCV cannot read GIF) and handed to fer as BGR arrays, EXIF
orientation applied, as the service decodes them.
"""
import argparse
import json
import os

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("listing", help="a text file of image paths, one a line")
args = parser.parse_args()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from fer.fer import FER  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

detector = FER()  # its defaults: Haar cascade, the quantized TFLite emotion model
with open(args.listing) as listing:
    for path in listing.read().splitlines():
        with Image.open(path) as im:
            rgb = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
        faces = detector.detect_emotions(np.ascontiguousarray(rgb[..., ::-1]))
        print(json.dumps({"path": path, "faces": [{"box": [int(v) for v in f["box"]], "emotions": f["emotions"]}
                                                 for f in faces]}), flush=True)
