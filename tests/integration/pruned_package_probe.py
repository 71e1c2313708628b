"""Run inside a fresh interpreter against a built, pruned package (tests/integration/test_template.py).

    python pruned_package_probe.py PACKAGE_DIR FACE_JPEG PHOTO_JPEG UPLOADS_DIR

Imports the package's own app, numpy, Pillow, pi-heif and LiteRT (botocore, boto3 and moto come
from the environment, as Lambda's runtime provides boto3), classifies the face in every format the
trigger accepts and every upload in UPLOADS_DIR (phone photos the test made: HEIC, AVIF, MPO), the
photo through detection, then runs the handler on S3 events (moto) for a face and for an upload
that is not an image. Prints one JSON line.
"""
import io
import json
import sys
from pathlib import Path

package, face_path, photo_path, uploads_dir = sys.argv[1:5]
sys.path.insert(0, package)
ROOT = Path(__file__).resolve().parents[2]
sys.path[1:1] = [str(ROOT), str(ROOT / "tests")]

from infra.local import LocalContext, use_stand_in_environment  # noqa: E402

use_stand_in_environment()

import boto3  # noqa: E402
import numpy  # noqa: E402
from moto import mock_aws  # noqa: E402
from PIL import Image  # noqa: E402

import app  # noqa: E402
from emotion.analysis import analyze  # noqa: E402
from images import s3_event  # noqa: E402

assert app.__file__.startswith(package), app.__file__
face = Image.open(face_path)


def encoded(fmt: str) -> bytes:
    buf = io.BytesIO()
    face.save(buf, format=fmt)
    return buf.getvalue()


def detector_runtimes(detector) -> list[str]:
    """The runtime of every model the detector loaded (RetinaFace loads two: photo and second look)."""
    models = getattr(detector, "models", None) or {"": detector.model}
    return sorted({m.backend for m in models.values()})


def emotions(data: bytes) -> list[str]:
    return [f["emotion"] for f in analyze(data, app.SETTINGS, app.CLASSIFIER, app.DETECTOR).faces]


out = {"numpy": numpy.__version__, "numpy_file": numpy.__file__,
       "runtimes": [app.CLASSIFIER.model.backend, *detector_runtimes(app.DETECTOR)],
       "python_bindings_loaded": "libpywrap" in Path("/proc/self/maps").read_text(),
       "formats": {fmt: emotions(encoded(fmt)) for fmt in ("JPEG", "PNG", "WEBP", "TIFF", "GIF", "BMP")},
       "photo": emotions(Path(photo_path).read_bytes()),
       "uploads": {p.name: emotions(p.read_bytes()) for p in sorted(Path(uploads_dir).iterdir())}}
out["decoders_from_package"] = all(sys.modules[name].__file__.startswith(package) for name in ("PIL", "pi_heif"))

with mock_aws():
    app.s3_client.cache_clear()
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="probe")
    objects = []
    for key, body in (("uploads/face.jpg", encoded("JPEG")), ("uploads/notes.jpg", b"not an image")):
        etag = s3.put_object(Bucket="probe", Key=key, Body=body)["ETag"].strip('"')
        objects.append(("probe", key, len(body), etag))
    app.handler(s3_event(*objects), LocalContext())
    out["handler"] = {key: json.loads(s3.get_object(Bucket="probe", Key=key + ".json")["Body"].read())["status"]
                      for _, key, _, _ in objects}
print(json.dumps(out))
