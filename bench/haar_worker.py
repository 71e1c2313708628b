"""OpenCV Haar cascade on images, run in its own venv (.venv-bench-opencv).

    python bench/haar_worker.py DIR REPEATS   ->  one JSON line: boxes per PNG in DIR, p50 ms per file
    python bench/haar_worker.py LIST.txt 1    ->  the same for the image paths listed, one a line
"""
import json
import statistics
import sys
import time
from pathlib import Path

import cv2

cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
source, repeats = Path(sys.argv[1]), int(sys.argv[2])
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
