"""All configuration of the function, read once from the environment (set by template.yaml)."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

MODEL_DIR = Path(__file__).resolve().parent.parent / "model"

# Extensions the function classifies. template.yaml's S3 suffix filters list exactly these,
# in lower, UPPER and Title case (S3 suffix filters are case-sensitive); a test keeps them in step.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif",
                    ".mpo")
RESULT_SUFFIX = ".json"
S3_MAX_KEY_BYTES = 1024  # S3's limit on key length (UTF-8)
LONG_KEY_FOLDER = "_long-keys/"


@dataclass(frozen=True)
class Settings:
    model_name: str = "emotion4"
    uploads_prefix: str = "uploads/"
    model_dir: Path = MODEL_DIR
    max_image_bytes: int = 25 * 1024 * 1024  # phones write 20 MB JPEGs; Rekognition takes 15 MB from S3
    max_image_pixels: int = 50_000_000  # about a 50-megapixel photo; more is treated as a decompression bomb
    num_threads: int = 1
    face_detection: bool = True
    # "retinaface" (photographs), or "mtcnn", or "face_detection_short_range" (BlazeFace, selfies):
    # docs/face-detection.md
    face_detector: str = "retinaface"
    # Uploads whose short side is at most this many pixels are taken as face crops (like the
    # 48x48 training images) and classified whole: a detector cannot frame a face that fills it.
    face_crop_max_side: int = 96
    max_faces: int = 100  # as Rekognition DetectFaces: the 100 largest, enough for a group photo
    detection_draft_side: int = 1024  # JPEGs decode at a reduced scale, keeping at least this short side
    # Empty in AWS. `sam local invoke` sets it to reach a local S3 stand-in (moto_server).
    s3_endpoint_url: str | None = None
    image_extensions: tuple[str, ...] = field(default=IMAGE_EXTENSIONS)
    result_suffix: str = RESULT_SUFFIX

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        defaults = cls()
        return cls(
            model_name=env.get("MODEL_NAME", defaults.model_name),
            uploads_prefix=env.get("UPLOADS_PREFIX", defaults.uploads_prefix),
            model_dir=Path(env.get("MODEL_DIR", defaults.model_dir)),
            max_image_bytes=int(env.get("MAX_IMAGE_BYTES", defaults.max_image_bytes)),
            max_image_pixels=int(env.get("MAX_IMAGE_PIXELS", defaults.max_image_pixels)),
            num_threads=int(env.get("NUM_THREADS", defaults.num_threads)),
            s3_endpoint_url=env.get("S3_ENDPOINT_URL") or None,
            face_detection=env.get("FACE_DETECTION", "Enabled").strip().lower() not in ("disabled", "false", "0", "off"),
            max_faces=int(env.get("MAX_FACES", defaults.max_faces)),
            face_detector=env.get("FACE_DETECTOR", defaults.face_detector),
        )

    def is_result(self, key: str) -> bool:
        return key.lower().endswith(self.result_suffix)

    def is_image_key(self, key: str) -> bool:
        return key.lower().endswith(self.image_extensions)

    def result_key(self, key: str) -> str:
        """``<key>.json`` beside the image; for a key too long for that, a hashed name under
        ``<uploads prefix>_long-keys/`` (the result names the full key in ``source.key``)."""
        beside = key + self.result_suffix
        if len(beside.encode()) <= S3_MAX_KEY_BYTES:
            return beside
        digest = hashlib.sha256(key.encode()).hexdigest()
        return f"{self.uploads_prefix}{LONG_KEY_FOLDER}{digest}{self.result_suffix}"
