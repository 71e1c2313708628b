"""The result document (versioned JSON) and where it is written: beside the image."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

SCHEMA = "emotion-result/2"


@dataclass
class Source:
    bucket: str
    key: str
    size: int | None
    etag: str | None
    version_id: str | None = None


def _base(source: Source, model: dict[str, str], timing_ms: dict[str, float]) -> dict[str, Any]:
    return {
        "model": model,
        "source": {
            "bucket": source.bucket,
            "key": source.key,
            "size": source.size,
            "etag": source.etag,
            "version_id": source.version_id,
        },
        "timing_ms": {k: round(v, 3) for k, v in timing_ms.items()},
        "created_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
    }


def ok_result(source: Source, model: dict[str, str], image: dict[str, Any], faces: list[dict[str, Any]],
              method: str, timing_ms: dict[str, float]) -> dict[str, Any]:
    """Top-level emotion, confidence and scores are the largest face's; null when no face was found."""
    main = faces[0] if faces else None
    return {
        "schema": SCHEMA,
        "status": "ok",
        "emotion": main["emotion"] if main else None,
        "confidence": main["confidence"] if main else None,
        "scores": main["scores"] if main else None,
        "faces": faces,
        "detection": {"method": method, "faces_found": len(faces)},
        "image": image,
        "error": None,
        **_base(source, model, timing_ms),
    }


def error_result(source: Source, model: dict[str, str], code: str, message: str,
                 timing_ms: dict[str, float], image: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "status": "error",
        "emotion": None,
        "confidence": None,
        "scores": None,
        "faces": [],
        "detection": None,
        "image": image,
        "error": {"code": code, "message": message},
        **_base(source, model, timing_ms),
    }


def write_result(s3, bucket: str, key: str, result: dict[str, Any]) -> None:
    """Store ``result`` as JSON at ``key`` (the image's key plus ``.json``)."""
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(result, indent=2).encode(),
        ContentType="application/json",
    )
