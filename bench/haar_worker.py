"""OpenCV Haar cascade on a folder of PNGs, run in its own venv (.venv-bench-opencv).

    python bench/haar_worker.py DIR REPEATS   ->  one JSON line: boxes per file, p50 ms per file
"""
import json
import statistics
import sys
import time
from pathlib import Path

import cv2

cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
folder, repeats = Path(sys.argv[1]), int(sys.argv[2])
out = {"opencv": cv2.__version__, "files": {}}
for path in sorted(folder.glob("*.png")):
    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    times, boxes = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        boxes = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
        times.append((time.perf_counter() - start) * 1000)
    out["files"][path.name] = {"boxes": [[int(v) for v in b] for b in boxes], "p50_ms": statistics.median(times)}
print(json.dumps(out))
