"""The handler, one S3 event at a time, against moto's S3."""
import dataclasses
import json
from pathlib import Path

import boto3
import jsonschema
import pytest
from PIL import Image

from faults import FailingS3
from images import animated_gif, encode, face, png_with_declared_size, s3_event

BUCKET = "handler-tests"
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "result.schema.json").read_text())


@pytest.fixture
def s3(app):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


def put(s3, key: str, data: bytes) -> tuple[str, str, int, str]:
    etag = s3.put_object(Bucket=BUCKET, Key=key, Body=data)["ETag"].strip('"')
    return (BUCKET, key, len(data), etag)


def result_of(s3, key: str) -> dict:
    obj = s3.get_object(Bucket=BUCKET, Key=key + ".json")
    assert obj["ContentType"] == "application/json"
    doc = json.loads(obj["Body"].read())
    jsonschema.validate(doc, SCHEMA)
    return doc


def invoke(app, event):
    from infra.local import LocalContext
    return app.handler(event, LocalContext())


def test_face_is_classified_and_result_stored_beside_it(app, s3):
    data = encode(face("happy"), "JPEG")
    obj = put(s3, "uploads/a/b.jpg", data)
    out = invoke(app, s3_event(obj))
    result = result_of(s3, "uploads/a/b.jpg")
    assert out["results"][0]["result_key"] == "uploads/a/b.jpg.json"
    assert result["status"] == "ok"
    assert result["emotion"] in app.CLASSIFIER.labels
    assert list(result["scores"]) == app.CLASSIFIER.labels
    assert sum(result["scores"].values()) == pytest.approx(1.0)
    assert result["confidence"] == pytest.approx(max(result["scores"].values()), abs=1e-6)
    assert result["model"] == {"name": app.CLASSIFIER.name, "version": app.CLASSIFIER.version}
    assert result["source"] == {"bucket": BUCKET, "key": "uploads/a/b.jpg", "size": len(data),
                                "etag": obj[3], "version_id": None}
    assert result["image"] == {"width": 48, "height": 48, "format": "JPEG", "frames": 1}
    assert result["timing_ms"]["inference"] > 0


@pytest.mark.parametrize("key", [
    "uploads/my photo.jpg", "uploads/a+b=c.png", "uploads/été/visage ünïcödé.JPG", "uploads/IMG_001.JPEG",
    "uploads/100%.png",
])
def test_url_encoded_keys_are_decoded(app, s3, key):
    fmt = "PNG" if key.lower().endswith(".png") else "JPEG"
    invoke(app, s3_event(put(s3, key, encode(face("sad"), fmt))))
    assert result_of(s3, key)["source"]["key"] == key


@pytest.mark.parametrize("key", ["uploads/a.jpg.json", "uploads/b.JSON", "uploads/notes.txt", "uploads/noext"])
def test_results_and_non_images_are_skipped(app, s3, key):
    out = invoke(app, s3_event(put(s3, key, b"{}")))
    assert out["results"][0]["status"] == "skipped"
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert listed == [key]  # no result of a result, nothing else written


@pytest.mark.parametrize("name,data,code", [
    ("empty.jpg", b"", "empty"),
    ("text.jpg", b"I am not a picture", "not_an_image"),
    ("truncated.jpg", encode(face("sad").resize((300, 300)), "JPEG")[:1500], "corrupt"),
    ("bomb.png", png_with_declared_size(20000, 20000), "too_many_pixels"),
])
def test_bad_images_get_an_error_result_and_no_retry(app, s3, name, data, code):
    key = f"uploads/{name}"
    out = invoke(app, s3_event(put(s3, key, data)))  # must not raise
    result = result_of(s3, key)
    assert out["results"][0]["status"] == "error"
    assert result["status"] == "error" and result["emotion"] is None
    assert result["error"]["code"] == code and result["error"]["message"]


def test_too_large_is_refused_before_reading(app, s3, monkeypatch):
    monkeypatch.setattr(app, "SETTINGS", dataclasses.replace(app.SETTINGS, max_image_bytes=1000))
    data = encode(face("happy").resize((200, 200)), "PNG")
    assert len(data) > 1000
    invoke(app, s3_event(put(s3, "uploads/big.png", data)))
    assert result_of(s3, "uploads/big.png")["error"]["code"] == "too_large"


@pytest.mark.parametrize("storage_class", ["GLACIER", "DEEP_ARCHIVE"])
def test_an_archived_upload_gets_an_error_result_not_retries(app, s3, storage_class):
    # S3 answers InvalidObjectState until the object is restored: retrying would only fill the failure queue.
    data = encode(face("happy"), "JPEG")
    etag = s3.put_object(Bucket=BUCKET, Key="uploads/cold.jpg", Body=data, StorageClass=storage_class)["ETag"]
    out = invoke(app, s3_event((BUCKET, "uploads/cold.jpg", len(data), etag.strip('"'))))  # must not raise
    result = result_of(s3, "uploads/cold.jpg")
    assert out["results"][0]["status"] == "error" and result["error"]["code"] == "archived"


def test_odd_but_valid_images_are_classified(app, s3):
    cases = {
        "uploads/one.png": encode(Image.new("L", (1, 1), 128), "PNG"),
        "uploads/anim.gif": animated_gif([face("happy").convert("P"), face("sad").convert("P")]),
        "uploads/cmyk.jpg": encode(face("neutral").convert("CMYK"), "JPEG"),
        "uploads/wide.webp": encode(face("happy").resize((480, 48)).convert("RGB"), "WEBP"),
    }
    event = s3_event(*(put(s3, k, v) for k, v in cases.items()))
    invoke(app, event)
    for key in cases:
        assert result_of(s3, key)["status"] == "ok", key
    assert result_of(s3, "uploads/anim.gif")["image"]["frames"] == 2


def test_one_bad_record_does_not_spoil_the_others(app, s3):
    event = s3_event(
        put(s3, "uploads/good1.jpg", encode(face("happy"), "JPEG")),
        put(s3, "uploads/bad.jpg", b"garbage"),
        put(s3, "uploads/good2.png", encode(face("surprise"), "PNG")),
    )
    out = invoke(app, event)
    assert [r["status"] for r in out["results"]] == ["ok", "error", "ok"]


@pytest.mark.parametrize("operation", ["get_object", "put_object"])
@pytest.mark.parametrize("code,status", [("SlowDown", 503), ("InternalError", 500)])
def test_transient_failures_raise_so_lambda_retries(app, s3, monkeypatch, operation, code, status):
    flaky = FailingS3(s3, operation, code, status, failures=1)
    monkeypatch.setattr(app, "s3_client", lambda: flaky)
    event = s3_event(put(s3, "uploads/a.jpg", encode(face("happy"), "JPEG")),
                     put(s3, "uploads/b.jpg", encode(face("sad"), "JPEG")))
    with pytest.raises(app.RecordsFailed, match="1 of 2"):
        invoke(app, event)
    # The other record was still processed; the retry (same event) completes the failed one.
    assert result_of(s3, "uploads/b.jpg")["status"] == "ok"
    invoke(app, event)
    assert result_of(s3, "uploads/a.jpg")["status"] == "ok"


def test_object_deleted_before_processing_is_not_an_error(app, s3):
    obj = put(s3, "uploads/gone.jpg", encode(face("happy"), "JPEG"))
    s3.delete_object(Bucket=BUCKET, Key="uploads/gone.jpg")
    out = invoke(app, s3_event(obj))
    assert out["results"][0]["status"] == "gone"


def test_events_without_records_are_ignored(app):
    out = invoke(app, {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET})
    assert out == {"results": []}
