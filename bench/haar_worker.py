"""OpenCV Haar cascade on images, run in its own venv (.venv-bench-opencv).

    python bench/haar_worker.py DIR REPEATS   ->  one JSON line: boxes per PNG in DIR, p50 ms per file
    python bench/haar_worker.py LIST.txt 1    ->  the same for the image paths listed, one a line
"""
import argparse
import json
import statistics
import time
from pathlib import Path

import cv2

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("source", type=Path, help="a folder of PNGs, or a .txt file listing image paths, one a line")
parser.add_argument("repeats", type=int, help="detections timed per image (the median is reported)")
args = parser.parse_args()
source, repeats = args.source, args.repeats
cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
paths = ([Path(line) for line in source.read_text().splitlines() if line] if source.suffix == ".txt"
         else sorted(source.glob("*.png")))
out = {"opencv": cv2.__version__, "files": {}}
for path in paths:
    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    times, boxes = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        boxes = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
        times.append((time.perf_counter() - start) * 1000)
    out["files"][str(path) if source.suffix == ".txt" else path.name] = {
        "boxes": [[int(v) for v in b] for b in boxes], "p50_ms": statistics.median(times)}
print(json.dumps(out))
