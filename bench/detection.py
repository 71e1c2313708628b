"""Compare face detectors on photographs; writes docs/face-detection.md, .json and .png.

Photographs: WIDER FACE (shared/data/faces/wider-train: recall by face height at IoU >= 0.4,
false detections per photo), the tight headshots (shared/data/real/headshots: found rate), and
two real portraits shipped in installed packages (scikit-image's astronaut, matplotlib's
grace_hopper.jpg: exactly one face each). Candidates: RetinaFace MobileNet-0.25 (shipped), MTCNN, BlazeFace short-range (the
previous detector), BlazeFace full-range over a pyramid of windows, and OpenCV's Haar cascade
(in its own venv). Composites of FER2013 faces remain as a smoke test of the classifier's crop.

    python -m bench.detection [--wider-every 1] [--repeats 20]
    python -m bench.detection --timing retinaface mtcnn --repeats 5   # the times alone
    python -m bench.detection --render-only   # the report again from face-detection.json
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "function"), str(ROOT / "tests")]

from bench.photosets import WiderScore  # noqa: E402
from composites import astronaut, composite, grace_hopper, iou  # noqa: E402
from emotion.analysis import analyze  # noqa: E402
from emotion.classifier import EmotionClassifier  # noqa: E402
from emotion.faces import FRAMING_SCALE, FRAMING_SHIFT_UP, Face, FaceDetector  # noqa: E402
from emotion.imaging import decode_image, preprocess_face  # noqa: E402
from emotion.settings import Settings  # noqa: E402
from train.config import DEFAULT_DATA_DIR  # noqa: E402

FOUR = ("happy", "neutral", "sad", "surprise")
OPENCV_VENV = ROOT / ".venv-bench-opencv"
OPENCV_PIN = "opencv-python-headless==4.12.0.88"


def test_photos(data: Path, n: int, first: int = 0, seed: int = 1000):
    """(image, [(box, label, crop)]) for n composites of validation crops first..first+99 of each
    class, deterministic."""
    crops = [(Image.open(p).convert("L"), k) for k, c in enumerate(FOUR)
             for p in sorted((data / "validation" / c).iterdir())[first:first + 100]]
    rng = np.random.default_rng(7 + first)
    photos = []
    for i in range(n):
        picks = [crops[j] for j in rng.choice(len(crops), size=1 + i % 4, replace=False)]
        image, boxes = composite([c for c, _ in picks], size=(640, 480), seed=seed + i)
        photos.append((image, [(b, k, c) for b, (c, k) in zip(boxes, picks)]))
    return photos


def encode_png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def match(truth, found_boxes):
    """Greedy IoU >= 0.5 matching; returns (pairs truth->found index, unmatched found count)."""
    pairs, used = {}, set()
    for t, box in enumerate(truth):
        scores = [(iou(box, f), j) for j, f in enumerate(found_boxes) if j not in used]
        best = max(scores, default=(0.0, -1))
        if best[0] >= 0.5:
            pairs[t] = best[1]
            used.add(best[1])
    return pairs, len(found_boxes) - len(used)


def locates(found, truth) -> bool:
    """A looser test than IoU >= 0.5, blind to how tightly the crop frames its face: the found
    box's center lies inside the true box and their sides differ by less than a factor of 2."""
    cx, cy = (found[0] + found[2]) / 2, (found[1] + found[3]) / 2
    ratio = (found[2] - found[0]) / (truth[2] - truth[0])
    return truth[0] < cx < truth[2] and truth[1] < cy < truth[3] and 0.5 < ratio < 2


def evaluate_blazeface(photos, settings, classifier, detector):
    found = total = false = false_on_face = correct_found = correct_direct = located = 0
    for image, faces in photos:
        analysis = analyze(encode_png(image), settings, classifier, detector)
        # The composite's true box is a FER2013 crop: compared with the region classified.
        regions = [f.get("crop", f["box"]) for f in analysis.faces]
        boxes = [(r["x"], r["y"], r["x"] + r["width"], r["y"] + r["height"]) for r in regions]
        pairs, fp = match([b for b, _, _ in faces], boxes)
        total += len(faces)
        found += len(pairs)
        false += fp
        located += sum(any(locates(box, b) for box in boxes) for b, _, _ in faces)
        # A false face that overlaps a true face is that face boxed too large or too small.
        false_on_face += sum(1 for j, box in enumerate(boxes) if j not in pairs.values()
                             and max(iou(box, b) for b, _, _ in faces) > 0.1)
        for t, j in pairs.items():
            _, label, crop = faces[t]
            correct_found += analysis.faces[j]["emotion"] == FOUR[label]
            correct_direct += classifier.predict(preprocess_face(crop, 48)).emotion == FOUR[label]
    return {"faces": total, "found": found, "recall": round(found / total, 4), "located": located, "false_faces": false,
            "false_per_10_photos": round(10 * false / len(photos), 2), "false_faces_overlapping_a_face": false_on_face,
            "accuracy_found_faces": round(correct_found / max(found, 1), 4),
            "accuracy_same_crops_direct": round(correct_direct / max(found, 1), 4)}


def without_cut_rescue(photos, held_out, settings, classifier, detector) -> dict:
    """The composites again with the second look at faces seen only cut by windows' inner edges
    switched off: what that look adds."""
    plain = FaceDetector.load(settings.model_dir, settings.face_detector)
    plain._rescue_cut_faces = lambda *args: []
    return {name: {k: v for k, v in evaluate_blazeface(p, settings, classifier, plain).items()
                   if k in ("faces", "found", "false_faces")}
            for name, p in (("composites", photos), ("held_out_composites", held_out))}


def framing_bound(photos, detector) -> dict:
    """Share of true faces boxed at IoU >= 0.5 when the detector is shown each one centred, in a
    window twice its side: the best the framing rule can do, whatever finds the faces. FER2013's
    crops frame faces more loosely or tightly from image to image; one rule cannot match all.
    Also the best square rule (scale, upward shift) chosen on these very faces: an upper bound
    for any such rule, however it is tuned."""
    pairs = []
    for image, faces in photos:
        for box, _, _ in faces:
            side = box[2] - box[0]
            window = (box[0] - side // 2, box[1] - side // 2, box[0] - side // 2 + 2 * side, box[1] - side // 2 + 2 * side)
            found = [(b, s) for b, s in detector.look(image, window, 0.1) if iou(box, b) > 0.1]
            if found:
                pairs.append((box, max(found, key=lambda bs: bs[1])[0]))

    def framed(scale, shift_up):
        """Which of the detected faces the rule frames at IoU >= 0.5."""
        return [iou(truth, _box(Face(*b, 0.0).framed(scale, shift_up))) >= 0.5 for truth, b in pairs]

    total = sum(len(faces) for _, faces in photos)
    best = max((sum(framed(scale, up)), scale, up) for scale in np.arange(0.90, 1.81, 0.02).round(2)
               for up in np.arange(-0.10, 0.31, 0.02).round(2))
    # How the crops that the best rule misses frame their faces: crop side / detector box side.
    ratios = sorted(round((t[2] - t[0]) / max(b[2] - b[0], b[3] - b[1]), 2)
                    for (t, b), hit in zip(pairs, framed(best[1], best[2])) if not hit)
    return {"shipped_rule": round(sum(framed(FRAMING_SCALE, FRAMING_SHIFT_UP)) / total, 4),
            "best_rule_on_these_faces": {"share": round(best[0] / total, 4), "scale": float(best[1]),
                                         "shift_up": float(best[2])},
            "not_boxed": total - len(pairs), "crop_to_box_of_faces_no_rule_frames": ratios}


def photo_variants(settings, detector) -> dict:
    """The two real photos at four sizes (0.5-1.5x) as JPEG (quality 50, 75, 90) and PNG, decoded
    as the service decodes uploads: how many variants show exactly their one face."""
    exact, wrong = 0, []
    for name, photo in (("astronaut", astronaut()), ("grace_hopper", grace_hopper())):
        for scale in (0.5, 0.75, 1.0, 1.5):
            resized = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.Resampling.BILINEAR)
            for quality in (50, 75, 90, None):
                buf = io.BytesIO()
                if quality is None:
                    resized.save(buf, format="PNG")
                else:
                    resized.save(buf, format="JPEG", quality=quality)
                gray = decode_image(buf.getvalue(), settings.max_image_pixels, draft_size=settings.detection_draft_side).gray
                found = len(detector.detect(gray))
                exact += found == 1
                if found != 1:
                    wrong.append(f"{name} x{scale} {'PNG' if quality is None else f'JPEG q{quality}'}: {found} faces")
    return {"variants": 32, "exactly_one_face": exact, "others": wrong}


def calibrate(photos, detector) -> dict:
    """How the true boxes (FER2013's crops) frame the detector's boxes: medians over the faces
    found, of crop side / detector box side and of how far the crop's center sits above the
    box's, in box sides (the framing constants of emotion/faces.py)."""
    scales, shifts = [], []
    for image, faces in photos:
        found = detector.detect(image)
        for truth, _, _ in faces:
            near = [f for f in found if iou(truth, _box(f.framed())) > 0.3]
            if near:
                f = max(near, key=lambda f: iou(truth, _box(f.framed())))
                side = max(f.x1 - f.x0, f.y1 - f.y0)
                scales.append((truth[2] - truth[0]) / side)
                shifts.append(((f.y0 + f.y1) / 2 - (truth[1] + truth[3]) / 2) / side)
    return {"faces": len(scales), "scale": round(statistics.median(scales), 3),
            "shift_up": round(statistics.median(shifts), 3)}


def _box(face):
    return face.x0, face.y0, face.x1, face.y1


def p50_per_photo_ms(detector, photos, rounds):
    """Median time to detect the faces of one photo, over every photo, ``rounds`` times each."""
    detector.detect(photos[0][0])
    times = []
    for _ in range(rounds):
        for image, _ in photos:
            start = time.perf_counter()
            detector.detect(image)
            times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2), round(float(np.percentile(times, 90)), 2)


def p50_ms(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


def _boxes(faces):
    return [(f.x0, f.y0, f.x1, f.y1) for f in faces]


def _load(path: Path, color: bool) -> Image.Image:
    im = Image.open(path)
    return im.convert("RGB" if color else "L")


def wider_scores(detector, photos, thresholds=None) -> dict:
    """WiderScore summary; with ``thresholds``, one per minimum score as well (the detector
    must then keep every face it finds, whatever its score)."""
    color = getattr(detector, "wants_color", False)
    scores = {t: WiderScore() for t in (thresholds or [None])}
    for path, truth in photos:
        faces = detector.detect(_load(path, color))
        for t, score in scores.items():
            score.add(truth, _boxes([f for f in faces if t is None or f.score >= t]))
    return {("all" if t is None else t): s.summary() for t, s in scores.items()}


def headshot_rates(detector, paths, with_rule: bool = False) -> dict:
    """Share of headshots in which the detector finds a face; with the function's rule for
    face-crop-like pictures (second look, else classified whole), also how many get one."""
    from emotion.analysis import find_faces
    color = getattr(detector, "wants_color", False)
    found = second = whole = 0
    for path in paths:
        image = _load(path, color)
        if with_rule:
            faces, classified_whole = find_faces(detector, image)
            direct = bool(faces) and bool(detector.detect(image))
            found += direct
            second += bool(faces) and not direct
            whole += classified_whole
        else:
            found += bool(detector.detect(image))
    out = {"pictures": len(paths), "face_found": found, "found_rate": round(found / len(paths), 4)}
    if with_rule:
        out.update({"found_by_second_look": second, "found_rate_with_second_look": round((found + second) / len(paths), 4),
                    "classified_whole": whole, "without_a_face": len(paths) - found - second - whole})
    return out


def timing(detector, images: dict, repeats: int) -> dict:
    color = getattr(detector, "wants_color", False)
    out = {}
    for name, frames in images.items():
        frames = [f.convert("RGB" if color else "L") for f in frames]
        detector.detect(frames[0])
        times = []
        for _ in range(repeats):
            for frame in frames:
                start = time.perf_counter()
                detector.detect(frame)
                times.append((time.perf_counter() - start) * 1000)
        out[name] = round(statistics.median(times), 1)
    return out


def retinaface_parts(detector, images: dict, repeats: int) -> dict:
    """RetinaFace's detect() in parts, median ms per photo: the network over the photo, LiteRT
    planning a new canvas shape (when the photo's differs from the one before), the second looks
    (window and network) and the rest (shrinking the photo, the canvas, decoding, NMS)."""
    photo = detector.models["photo"]
    spent: dict[str, float] = {}

    def timed(part, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[part] = spent.get(part, 0.0) + (time.perf_counter() - start) * 1000
        return wrapper

    photo.run, photo.resize = timed("run", photo.run), timed("replan", photo.resize)  # run() calls resize()
    detector.verify = timed("second_looks", detector.verify)
    out = {}
    try:
        for name, frames in images.items():
            parts = []
            frames = [f.convert("RGB") for f in frames]
            detector.detect(frames[0])
            for _ in range(repeats):
                for frame in frames:
                    spent.clear()
                    start = time.perf_counter()
                    detector.detect(frame)
                    total = (time.perf_counter() - start) * 1000
                    replan, looks = spent.get("replan", 0.0), spent.get("second_looks", 0.0)
                    network = spent["run"] - replan
                    parts.append({"total": total, "network": network, "replan": replan, "second_looks": looks,
                                  "rest": total - network - replan - looks})
            out[name] = {k: round(statistics.median(p[k] for p in parts), 1) for k in parts[0]}
    finally:
        del photo.run, photo.resize, detector.verify
    return out


def timing_images(wider, settings) -> dict:
    """Five WIDER photos as they are (1024 px wide), at 640x480, and at 4000x3000 decoded as the
    function decodes a JPEG upload (reduced on the fly to a short side of at least 1024 px)."""
    photos = [Image.open(p).convert("RGB") for p, _ in wider[:5]]
    big = []
    for p in photos:
        buf = io.BytesIO()
        p.resize((4000, 3000), Image.Resampling.BILINEAR).save(buf, format="JPEG", quality=90)
        big.append(decode_image(buf.getvalue(), settings.max_image_pixels, draft_size=settings.detection_draft_side,
                                color=True).color)
    return {"640x480": [p.resize((640, 480), Image.Resampling.BILINEAR) for p in photos],
            "1024_wide": photos, "4000x3000_jpeg_decoded": big}


def run_haar(wider, headshot_paths, portraits, times, repeats) -> dict:
    if not (OPENCV_VENV / ".installed").exists():
        subprocess.run([sys.executable, "-m", "venv", str(OPENCV_VENV)], check=True)
        subprocess.run([str(OPENCV_VENV / "bin" / "pip"), "install", "-q", OPENCV_PIN, "numpy==2.2.6"], check=True)
        (OPENCV_VENV / ".installed").touch()
    python, worker = str(OPENCV_VENV / "bin" / "python"), str(ROOT / "bench" / "haar_worker.py")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        listing = tmp / "list.txt"
        listing.write_text("\n".join(str(p) for p in [*(p for p, _ in wider), *headshot_paths]) + "\n")
        files = json.loads(subprocess.run([python, worker, str(listing), "1"], capture_output=True, text=True,
                                          check=True).stdout)["files"]
        for name, image in portraits.items():
            image.convert("L").save(tmp / f"real-{name}.png")
        for name, frames in times.items():
            frames[0].convert("L").save(tmp / f"t-{name}.png")
        timed = json.loads(subprocess.run([python, worker, str(tmp), str(repeats)], capture_output=True, text=True,
                                          check=True).stdout)["files"]
    score = WiderScore()
    for path, truth in wider:
        score.add(truth, [(x, y, x + w, y + h) for x, y, w, h in files[str(path)]["boxes"]])
    found = sum(bool(files[str(p)]["boxes"]) for p in headshot_paths)
    site = next((OPENCV_VENV / "lib").glob("python3*/site-packages"))
    size = sum(p.stat().st_size for d in ("cv2", "opencv_python_headless.libs") for p in (site / d).rglob("*") if p.is_file())
    return {"wider": score.summary(),
            "headshots": {"pictures": len(headshot_paths), "face_found": found,
                          "found_rate": round(found / len(headshot_paths), 4)},
            "real_portraits": {k: len(timed[f"real-{k}.png"]["boxes"]) for k in portraits},
            "detect_p50_ms": {k: round(timed[f"t-{k}.png"]["p50_ms"], 1) for k in times},
            "package_added_mb": round(size / 2**20, 1)}


def calibrate_framing(photos, detector) -> dict:
    """The classifier's framing for ``detector``'s boxes (the square crop's scale over the box's
    longer side, and its centre's shift up in box sides), medians over composite faces found."""
    scales, shifts = [], []
    for image, faces in photos:
        found = detector.detect(image.convert("RGB") if detector.wants_color else image)
        for truth, _, _ in faces:
            near = [f for f in found if iou(truth, _box(f)) > 0.2]
            if near:
                f = max(near, key=lambda f: iou(truth, _box(f)))
                side = max(f.x1 - f.x0, f.y1 - f.y0)
                scales.append((truth[2] - truth[0]) / side)
                shifts.append(((f.y0 + f.y1) / 2 - (truth[1] + truth[3]) / 2) / side)
    return {"faces": len(scales), "scale": round(statistics.median(scales), 3),
            "shift_up": round(statistics.median(shifts), 3)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.detection", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wider-every", type=int, default=1,
                        help="score every Nth WIDER photo (default: %(default)s, every photo boxes.csv lists)")
    parser.add_argument("--headshots-every", type=int, default=1,
                        help="score every Nth headshot (default: %(default)s, all 1,118)")
    parser.add_argument("--repeats", type=int, default=10, help="timing rounds over five photos (default: %(default)s)")
    parser.add_argument("--photos", type=int, default=30, help="composites for the smoke test (default: %(default)s)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="FER2013 tree (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where face-detection.md/.json/.png go")
    parser.add_argument("--no-haar", action="store_true", help="leave out OpenCV's Haar cascade (its own venv)")
    parser.add_argument("--timing", nargs="+", metavar="DETECTOR",
                        help="only time these detectors (retinaface, mtcnn, face_detection_short_range) on the "
                             "timing photos, print the medians (RetinaFace's also in parts) and exit (writes nothing)")
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite face-detection.md and .png from the face-detection.json in --out (after "
                             "editing bench/detection_notes.md) without measuring anything")
    parser.add_argument("--calibrate", action="store_true",
                        help="only print the framing constants of the configured detector (FACE_DETECTOR, default "
                             "retinaface) measured on the tuning composites")
    args = parser.parse_args(argv)

    from bench.candidates import FullRangePyramid, Gray
    from bench.photosets import headshots, wider_photos
    from emotion.faces import load_detector
    from emotion.mtcnn import MIN_SCORE, MtcnnDetector
    from emotion.retinaface import RetinaFaceDetector
    settings = Settings()
    if args.render_only:
        result = json.loads((args.out / "face-detection.json").read_text())
        (args.out / "face-detection.md").write_text(markdown(result))
        plot(result, args.out / "face-detection.png")
        return 0
    if args.calibrate:
        print(json.dumps(calibrate_framing(test_photos(args.data, 60),
                                           load_detector(settings.model_dir, settings.face_detector))))
        return 0
    if args.timing:
        times = timing_images(wider_photos(), settings)
        for name in args.timing:
            detector = load_detector(settings.model_dir, name)
            print(json.dumps({name: timing(detector, times, args.repeats)}))
            if name == "retinaface":
                print(json.dumps({"retinaface_parts": retinaface_parts(detector, times, args.repeats)}))
        return 0
    classifier = EmotionClassifier.load(settings.model_dir, settings.model_name)
    wider = wider_photos()[::args.wider_every]
    shots = headshots()[::args.headshots_every]
    portraits = {"astronaut": astronaut(), "grace_hopper": grace_hopper()}
    times = timing_images(wider, settings)
    retina = load_detector(settings.model_dir, "retinaface")
    mtcnn = load_detector(settings.model_dir, "mtcnn")
    blaze = FaceDetector.load(settings.model_dir, "face_detection_short_range")
    candidates = {"retinaface": retina, "mtcnn": mtcnn, "mtcnn_gray_input": Gray(mtcnn, "mtcnn_gray_input"),
                  "blazeface_short_range": blaze, "blazeface_full_range_pyramid": FullRangePyramid()}
    sweep = [0.5, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98]
    result = {"wider_photos": len(wider), "headshots": len(shots), "shipped": settings.face_detector,
              "mtcnn_min_score": MIN_SCORE, "candidates": {}}
    for name, det in candidates.items():
        print(name, file=sys.stderr)
        entry = {}
        if name == "mtcnn":
            every = MtcnnDetector(settings.model_dir, min_score=0.0)
            scored = wider_scores(every, wider, [MIN_SCORE, *sweep])
            entry["wider"] = scored.pop(MIN_SCORE)
            entry["wider_by_min_score"] = {str(t): {k: s[k] for k in (">=32", "false_per_photo")} | {
                ">=128": s["by_height"][">=128"]} for t, s in scored.items()}
        else:
            entry["wider"] = wider_scores(det, wider)["all"]
        if name == "retinaface":
            entry["wider_variants"] = {label: {k: s[k] for k in (">=32", "false_per_photo")} | {
                ">=128": s["by_height"][">=128"]}
                for label, kwargs in RETINAFACE_VARIANTS.items()
                for s in [wider_scores(RetinaFaceDetector(settings.model_dir, **kwargs), wider)["all"]]}
        entry["headshots"] = headshot_rates(det, shots, with_rule=name in ("mtcnn", "retinaface"))
        entry["real_portraits"] = {k: len(det.detect(v.convert("RGB") if getattr(det, "wants_color", False)
                                                     else v.convert("L"))) for k, v in portraits.items()}
        entry["detect_p50_ms"] = timing(det, times, args.repeats)
        if name == "retinaface":
            entry["detect_parts_ms"] = retinaface_parts(det, times, args.repeats)
        result["candidates"][name] = entry
    model = settings.model_dir
    result["candidates"]["retinaface"]["package_added_mb"] = round(
        sum(p.stat().st_size for p in model.glob("retinaface*.tflite")) / 2**20, 2)
    result["candidates"]["mtcnn"]["package_added_mb"] = round(
        sum(p.stat().st_size for p in model.glob("mtcnn_*.tflite")) / 2**20, 2)
    result["candidates"]["blazeface_short_range"]["package_added_mb"] = round(
        (model / "face_detection_short_range.tflite").stat().st_size / 2**20, 2)
    photos = test_photos(args.data, args.photos)
    result["composites_smoke"] = {
        name: {k: v for k, v in evaluate_blazeface(photos, dataclasses.replace(settings, face_detector=name),
                                                   classifier, det).items()
               if k in ("faces", "found", "located", "false_faces", "accuracy_found_faces")}
        for name, det in (("retinaface", retina), ("mtcnn", mtcnn), ("face_detection_short_range", blaze))}
    if not args.no_haar:
        print("opencv_haar", file=sys.stderr)
        result["candidates"]["opencv_haar"] = run_haar(wider, shots, portraits, times, args.repeats)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "face-detection.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "face-detection.md").write_text(markdown(result))
    plot(result, args.out / "face-detection.png")
    print(json.dumps(result, indent=2))
    return 0


# The second look's settings beside the shipped ones (emotion/retinaface.py), on the same photos.
RETINAFACE_VARIANTS = {
    "score >= 0.9, no second look": {"candidate_score": 0.9},
    "score >= 0.8, no second look": {"min_score": 0.8, "candidate_score": 0.8},
    "score >= 0.7, no second look": {"min_score": 0.7, "candidate_score": 0.7},
    "second look from 0.3, verify 0.8": {"candidate_score": 0.3},
    "second look from 0.5, verify 0.9": {"verify_min_score": 0.9},
    "second look from 0.5, verify 0.7": {"verify_min_score": 0.7},
    "shipped, no 24-px floor": {"min_face": 0},
}
LABELS = {"retinaface": "RetinaFace MobileNet-0.25 (shipped)", "mtcnn": "MTCNN (previous)", "mtcnn_gray_input": "MTCNN, gray input",
          "blazeface_short_range": "BlazeFace short-range (previous)",
          "blazeface_full_range_pyramid": "BlazeFace full-range, window pyramid", "opencv_haar": "OpenCV Haar"}


def plot(r: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    bins = list(next(iter(r["candidates"].values()))["wider"]["by_height"])
    names = list(r["candidates"])
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        c = r["candidates"][name]
        values = [c["wider"]["by_height"][b]["recall"] for b in bins]
        left.bar(np.arange(len(bins)) + i * width, values, width, color=f"C{i}",
                 label=f"{LABELS[name]} ({c['wider']['false_per_photo']} false/photo)")
    left.axhline(0.8, color="gray", ls=":", lw=1)
    left.axhline(0.95, color="gray", ls=":", lw=1)
    left.set_xticks(np.arange(len(bins)) + 0.4 - width / 2, [f"{b} px" for b in bins])
    left.set_ylabel("faces found (IoU >= 0.4)")
    left.set_title(f"WIDER FACE, {r['wider_photos']} photos: recall by face height")
    left.legend(fontsize=7, loc="upper left")
    left.set_ylim(0, 1.4)  # room for the legend above the bars
    sweep = r["candidates"]["mtcnn"]["wider_by_min_score"]
    xs = [v["false_per_photo"] for v in sweep.values()]
    ys = [v[">=32"]["recall"] for v in sweep.values()]
    right.plot(xs, ys, "o-", color=f"C{names.index('mtcnn')}", label="MTCNN, O-Net score threshold")
    for t, x, y in zip(sweep, xs, ys):
        right.annotate(t, (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    variants = r["candidates"]["retinaface"].get("wider_variants", {})
    right.plot([v["false_per_photo"] for v in variants.values()], [v[">=32"]["recall"] for v in variants.values()],
               "^", color=f"C{names.index('retinaface')}", alpha=0.4, label="RetinaFace, other settings")
    for i, name in enumerate(names):
        if name != "mtcnn":
            c = r["candidates"][name]["wider"]
            right.plot([c["false_per_photo"]], [c[">=32"]["recall"]], "s", color=f"C{i}", label=LABELS[name])
    right.axhline(0.8, color="gray", ls=":", lw=1)
    right.axvline(0.15, color="gray", ls=":", lw=1)
    right.set_xlabel("false detections per photo")
    right.set_ylabel("faces >= 32 px found")
    right.set_title("Recall against false detections (bars: dotted)")
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def markdown(r: dict) -> str:
    c = r["candidates"]
    names = list(c)
    rows = [
        "# Choosing the face detector", "",
        f"Measured by `python -m bench.detection` on {r['wider_photos']} WIDER FACE photos "
        "(`shared/data/faces/wider-train`, 1024 px wide; a face counts as found when a detection overlaps its box "
        "at IoU >= 0.4, one detection a face; a detection overlapping no annotated face, of any size, is false), "
        f"{r['headshots']} tight headshots (`shared/data/real/headshots`, happy/neutral/sad/surprise) and the two "
        "real portraits shipped in installed packages. Times are medians over five WIDER photos, one thread, on "
        "the development machine (shared with other work: read them as upper bounds).", "",
        "![recall by face height; recall against false detections](face-detection.png)", "",
        "| | " + " | ".join(LABELS[n] for n in names) + " |", "|---|" + "---|" * len(names)]

    def row(label, fn):
        cells = []
        for n in names:
            try:
                cells.append(str(fn(c[n])))
            except (KeyError, TypeError):
                cells.append("")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")

    for b in next(iter(c.values()))["wider"]["by_height"]:
        row(f"WIDER faces {b} px found", lambda e, b=b: f"{e['wider']['by_height'][b]['recall']:.1%} "
            f"({e['wider']['by_height'][b]['found']}/{e['wider']['by_height'][b]['faces']})")
    row("WIDER faces >= 32 px found", lambda e: f"{e['wider']['>=32']['recall']:.1%}")
    row("false detections per photo", lambda e: e["wider"]["false_per_photo"])
    row("headshots: face found", lambda e: f"{e['headshots']['found_rate']:.1%}")
    row("headshots: found with the second look", lambda e: f"{e['headshots']['found_rate_with_second_look']:.1%}")
    row("headshots: classified whole (face-crop rule)", lambda e: e["headshots"]["classified_whole"])
    row("astronaut / grace_hopper: faces", lambda e: f"{e['real_portraits']['astronaut']} / {e['real_portraits']['grace_hopper']}")
    for k in ("640x480", "1024_wide", "4000x3000_jpeg_decoded"):
        row(f"detection p50, {k}", lambda e, k=k: f"{e['detect_p50_ms'][k]} ms")
    row("package added", lambda e: f"{e['package_added_mb']} MB")
    m = c["mtcnn"]
    rows += ["", "RetinaFace with other settings (faces >= 32 px found / >= 128 px found / false detections per "
             "photo): " + "; ".join(f"{t}: {v['>=32']['recall']:.1%} / {v['>=128']['recall']:.1%} / "
                                     f"{v['false_per_photo']}" for t, v in c["retinaface"]["wider_variants"].items())
             + "."]
    rows += ["", "MTCNN by O-Net score threshold (the shipped one is "
             f"{r['mtcnn_min_score']}): faces >= 32 px found / >= 128 px found / false detections per photo: " +
             "; ".join(f"{t}: {v['>=32']['recall']:.1%} / {v['>=128']['recall']:.1%} / {v['false_per_photo']}"
                       for t, v in m["wider_by_min_score"].items()) + ".", "",
             "Composites of FER2013 faces (smoke test of the classifier's crop; a face counts when the region "
             "classified overlaps the pasted crop at IoU >= 0.5): " +
             "; ".join(f"{n}: {s['found']}/{s['faces']} found ({s['located']} located), {s['false_faces']} false, "
                       f"accuracy on the faces found {s['accuracy_found_faces']}" for n, s in r["composites_smoke"].items()) + ".", ""]
    return "\n".join(rows) + "\n" + EXPLANATION


EXPLANATION = (Path(__file__).with_name("detection_notes.md").read_text()
               if Path(__file__).with_name("detection_notes.md").exists() else "")


if __name__ == "__main__":
    sys.exit(main())
