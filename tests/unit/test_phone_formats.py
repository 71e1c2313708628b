"""Photos as phones and cameras save them (HEIC, AVIF, MPO, 12-48 megapixels) through the handler."""
import subprocess
import sys
from pathlib import Path

import pytest

from images import s3_event
from phones import FORMATS, encode_phone, phone_photo
from test_handler import BUCKET, invoke, put, result_of

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = [("HEIC", 12, 0), ("HEIC", 48, 0), ("AVIF", 12, 0), ("MPO", 12, 0), ("JPEG", 24, 16)]


@pytest.fixture
def s3(app):
    import boto3
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.mark.parametrize("fmt,megapixels,grain", PHOTOS, ids=[f"{f}-{m}MP" for f, m, _ in PHOTOS])
def test_phone_photo_gets_its_face_found_and_labelled(app, s3, fmt, megapixels, grain):
    photo = phone_photo(megapixels, grain=grain)
    data = encode_phone(photo, fmt, quality=95 if fmt == "JPEG" else 90)
    if fmt == "JPEG":
        assert len(data) > 10 * 2**20  # over the old 10 MiB limit, as a 24 MP phone JPEG is
    key = f"uploads/phone/IMG_0001{FORMATS[fmt]}"
    assert app.SETTINGS.is_image_key(key) and app.SETTINGS.is_image_key(key.upper())
    invoke(app, s3_event(put(s3, key, data)))
    result = result_of(s3, key)
    assert result["status"] == "ok", result.get("error")
    assert result["image"]["format"] == ("HEIF" if fmt == "HEIC" else fmt)
    assert (result["image"]["width"], result["image"]["height"]) == photo.size
    assert len(result["faces"]) == 1 and result["emotion"] == "happy"


def test_heif_is_recognised_by_its_brand_not_its_name():
    from emotion.imaging import is_heif
    heic = encode_phone(phone_photo(0.1), "HEIC")
    assert is_heif(heic)
    assert not is_heif(encode_phone(phone_photo(0.1), "AVIF"))
    assert not is_heif(encode_phone(phone_photo(0.1), "JPEG"))
    assert not is_heif(b"\x00\x00\x00\x18ftyp")  # truncated: no brand


def test_heif_decoder_loads_only_when_a_heif_photo_arrives():
    """Cold start does not pay for libheif: importing the handler leaves pi_heif unloaded."""
    code = ("import os, sys; sys.path[:0] = [sys.argv[1], sys.argv[2]];"
            "from infra.local import import_handler, use_stand_in_environment; use_stand_in_environment();"
            "import_handler(); print('pi_heif' in sys.modules, 'PIL.AvifImagePlugin' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT), str(ROOT / "tests")], capture_output=True,
                         text=True, check=True, env={"POWERTOOLS_LOG_LEVEL": "ERROR", "PATH": "/usr/bin:/bin"})
    assert out.stdout.split() == ["False", "False"]
