"""Images made by code, so no binary test fixtures are committed."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from urllib.parse import quote_plus

import numpy as np
from PIL import Image

SAMPLES = Path(__file__).resolve().parents[1] / "infra" / "samples"


def face(name: str = "happy") -> Image.Image:
    """A real 48x48 FER2013 face from the bundled samples."""
    path = next(SAMPLES.glob(f"{name}-*.jpg"))
    return Image.open(path).convert("L")


def encode(im: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def gradient(size=(64, 48), mode="L") -> Image.Image:
    w, h = size
    arr = (np.add.outer(np.arange(h), np.arange(w)) * 255 // max(w + h - 2, 1)).astype(np.uint8)
    return Image.fromarray(arr).convert(mode)


def png_with_declared_size(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (a decompression bomb's signature)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_with_orientation(im: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(im.convert("RGB"), "JPEG", exif=exif.tobytes())


def animated_gif(frames: list[Image.Image]) -> bytes:
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


def s3_event(*objects: tuple[str, str, int, str]) -> dict:
    """An S3 ObjectCreated event; keys are URL-encoded as S3 does (space as '+')."""
    return {"Records": [
        {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventName": "ObjectCreated:Put",
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "test",
                "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag},
            },
        }
        for bucket, key, size, etag in objects
    ]}


def batch_event(bucket: str, key: str, schema: str = "2.0", user_arguments: dict | None = None,
                version_id: str | None = None) -> dict:
    """An S3 Batch Operations invocation (one task, as Batch Operations sends); the key URL-encoded."""
    task = {"taskId": "dGFzay0x", "s3Key": quote_plus(key, safe="/"), "s3VersionId": version_id}
    if schema == "1.0":
        task["s3BucketArn"] = f"arn:aws:s3:::{bucket}"
        job = {"id": "job-1"}
    else:
        task["s3Bucket"] = bucket
        job = {"id": "job-1", "userArguments": user_arguments}
    return {"invocationSchemaVersion": schema, "invocationId": "aW52b2NhdGlvbi0x", "job": job, "tasks": [task]}
