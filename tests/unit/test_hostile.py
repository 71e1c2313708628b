"""Hostile uploads: each gets the right outcome, fast, and the handler never raises."""
import json
import resource
import sys
import time
from pathlib import Path

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))
from emotion.imaging import ImageError, decode_image  # noqa: E402

from hostile import corpus  # noqa: E402
from images import s3_event  # noqa: E402

BUCKET = "hostile"
CORPUS = corpus()
TIME_LIMIT_S = 5.0  # per upload, far below the function's 30 s timeout
MEMORY_LIMIT_MB = 1024  # the template's default memory size
# A fresh handler process before any upload: Python, imports, both models (bench/RESULTS.md: 63 MB
# before a photo, 74 MB warm), rounded up. The corpus's own peak must fit beside it.
HANDLER_BASELINE_MB = 100


def _status_mb(field: str) -> float | None:
    try:
        status = Path("/proc/self/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith(field)).split()[1]) / 1024
    except (OSError, StopIteration):
        return None


def reset_peak_rss() -> float:
    """Start this process's peak-RSS count afresh (Linux: "5" to clear_refs resets VmHWM to the
    current RSS) and return that RSS, so that what earlier tests left in this long-lived pytest
    process is not charged to the corpus."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return 0.0
    return _status_mb("VmRSS:") or 0.0


def peak_rss_mb() -> float:
    return _status_mb("VmHWM:") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_hostile_corpus_gets_the_right_outcomes(app):
    from infra.local import LocalContext
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    outcomes = {}
    start_mb = reset_peak_rss()
    for name, data, expected in CORPUS:
        key = f"uploads/hostile/{name}"
        etag = s3.put_object(Bucket=BUCKET, Key=key, Body=data)["ETag"].strip('"')
        started = time.perf_counter()
        app.handler(s3_event((BUCKET, key, len(data), etag)), LocalContext())  # never raises
        elapsed = time.perf_counter() - started
        result = json.loads(s3.get_object(Bucket=BUCKET, Key=key + ".json")["Body"].read())
        outcome = "ok" if result["status"] == "ok" else result["error"]["code"]
        outcomes[name] = outcome
        assert outcome in expected, (name, outcome, result.get("error"))
        assert elapsed < TIME_LIMIT_S, (name, elapsed)
    peak_mb = peak_rss_mb() - start_mb  # what the corpus itself needed above what was there
    assert HANDLER_BASELINE_MB + peak_mb < MEMORY_LIMIT_MB, peak_mb
    print(f"{len(outcomes)} hostile inputs: {outcomes}; peak RSS {peak_mb:.0f} MB above {start_mb:.0f} MB")


@pytest.mark.parametrize("key", ["uploads/../../etc/passwd.jpg", "uploads/./a/../b.jpg", "uploads//x.png"])
def test_path_like_keys_are_plain_names(app, key):
    from infra.local import LocalContext
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    etag = s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")["ETag"].strip('"')
    app.handler(s3_event((BUCKET, key, 1, etag)), LocalContext())
    assert json.loads(s3.get_object(Bucket=BUCKET, Key=key + ".json")["Body"].read())["source"]["key"] == key


MAGIC = [b"", b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"BM",
         b"II*\x00", b"MM\x00*"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(magic=st.sampled_from(MAGIC), body=st.binary(max_size=2048))
def test_random_bytes_only_ever_raise_image_error(magic, body):
    try:
        decoded = decode_image(magic + body, max_pixels=50_000_000)
    except ImageError as err:
        assert err.code in {"empty", "not_an_image", "corrupt", "too_many_pixels"}
    else:
        assert decoded.gray.mode == "L" and decoded.width >= 1
