"""The handler as S3 Batch Operations calls it: one task per invocation, a result code per task."""
import json

import boto3
import pytest

from faults import FailingS3
from images import batch_event, encode, face

BUCKET = "batch-tests"


@pytest.fixture
def s3(app):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


class CountingS3:
    """The real (moto) client, counting calls by operation."""

    def __init__(self, client):
        self._client, self.calls = client, []

    def __getattr__(self, name):
        real = getattr(self._client, name)
        if not callable(real):
            return real

        def call(**kwargs):
            self.calls.append(name)
            return real(**kwargs)
        return call


def invoke(app, event):
    from infra.local import LocalContext
    return app.handler(event, LocalContext())


def only_result(response) -> dict:
    assert len(response["results"]) == 1
    return response["results"][0]


def stored(s3, key):
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key + ".json")["Body"].read())


@pytest.mark.parametrize("schema", ["1.0", "2.0"])
def test_a_task_is_classified_like_an_upload(app, s3, schema):
    key = "uploads/old/Été photo+1.jpg"  # encoded in the task as S3 encodes it
    data = encode(face("happy"), "JPEG")
    etag = s3.put_object(Bucket=BUCKET, Key=key, Body=data)["ETag"].strip('"')
    response = invoke(app, batch_event(BUCKET, key, schema))
    assert response["invocationSchemaVersion"] == schema
    assert response["invocationId"] == "aW52b2NhdGlvbi0x"
    task = only_result(response)
    assert task["taskId"] == "dGFzay0x" and task["resultCode"] == "Succeeded"
    result = stored(s3, key)
    assert task["resultString"] == f"ok {result['emotion']} {key}.json"
    assert result["source"] == {"bucket": BUCKET, "key": key, "size": len(data), "etag": etag, "version_id": None}
    assert result["model"] == app.MODEL_INFO


def test_a_current_result_is_left_as_it_is(app, s3, monkeypatch):
    key = "uploads/current.png"
    s3.put_object(Bucket=BUCKET, Key=key, Body=encode(face("sad"), "PNG"))
    invoke(app, batch_event(BUCKET, key))
    first = stored(s3, key)
    counting = CountingS3(s3)
    monkeypatch.setattr(app, "s3_client", lambda: counting)
    task = only_result(invoke(app, batch_event(BUCKET, key)))
    assert task["resultCode"] == "Succeeded" and task["resultString"] == f"current {key}.json"
    assert counting.calls == ["get_object", "get_object"]  # the result, then the image's 304: no write
    assert stored(s3, key) == first


def test_force_redoes_a_current_result(app, s3):
    key = "uploads/forced.jpg"
    s3.put_object(Bucket=BUCKET, Key=key, Body=encode(face("happy"), "JPEG"))
    invoke(app, batch_event(BUCKET, key))
    first = stored(s3, key)
    task = only_result(invoke(app, batch_event(BUCKET, key, user_arguments={"force": "true"})))
    assert task["resultString"].startswith("ok ")
    assert stored(s3, key)["created_at"] >= first["created_at"]
    assert stored(s3, key)["timing_ms"] != first["timing_ms"]  # written again, measured again
    # "false" (or anything but "true") does not force.
    task = only_result(invoke(app, batch_event(BUCKET, key, user_arguments={"force": "false"})))
    assert task["resultString"].startswith("current ")


@pytest.mark.parametrize("change", ["model_version", "model_name", "content"])
def test_an_outdated_result_is_redone(app, s3, change):
    key = "uploads/outdated.jpg"
    s3.put_object(Bucket=BUCKET, Key=key, Body=encode(face("happy"), "JPEG"))
    invoke(app, batch_event(BUCKET, key))
    if change == "content":
        s3.put_object(Bucket=BUCKET, Key=key, Body=encode(face("surprise"), "JPEG"))
    else:
        old = stored(s3, key)
        field = change.split("_")[1]
        old["model"][field] = "0.0.1" if field == "version" else "emotion7"
        s3.put_object(Bucket=BUCKET, Key=key + ".json", Body=json.dumps(old).encode())
    task = only_result(invoke(app, batch_event(BUCKET, key)))
    assert task["resultString"].startswith("ok ")
    result = stored(s3, key)
    assert result["model"] == app.MODEL_INFO
    assert result["source"]["etag"] == s3.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"')


def test_an_unreadable_result_is_redone(app, s3):
    key = "uploads/garbled.jpg"
    s3.put_object(Bucket=BUCKET, Key=key, Body=encode(face("happy"), "JPEG"))
    s3.put_object(Bucket=BUCKET, Key=key + ".json", Body=b"{not json")
    assert only_result(invoke(app, batch_event(BUCKET, key)))["resultString"].startswith("ok ")
    assert stored(s3, key)["status"] == "ok"


def test_a_bad_image_gets_its_error_result_and_succeeds(app, s3):
    key = "uploads/broken.jpg"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"not a picture")
    task = only_result(invoke(app, batch_event(BUCKET, key)))
    assert task["resultCode"] == "Succeeded" and task["resultString"] == f"error {key}.json"
    assert stored(s3, key)["error"]["code"] == "not_an_image"
    # An error result made by this model from this content is current too.
    assert only_result(invoke(app, batch_event(BUCKET, key)))["resultString"] == f"current {key}.json"


def test_non_images_succeed_without_a_result(app, s3):
    s3.put_object(Bucket=BUCKET, Key="uploads/notes.txt", Body=b"hi")
    task = only_result(invoke(app, batch_event(BUCKET, "uploads/notes.txt")))
    assert task["resultCode"] == "Succeeded" and task["resultString"] == "skipped"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["uploads/notes.txt"]


def test_a_missing_key_is_a_permanent_failure(app, s3):
    task = only_result(invoke(app, batch_event(BUCKET, "uploads/deleted.jpg")))
    assert task["resultCode"] == "PermanentFailure" and task["resultString"].startswith("NoSuchKey")


@pytest.mark.parametrize("operation,code,status,expected", [
    ("get_object", "SlowDown", 503, "TemporaryFailure"),
    ("get_object", "InternalError", 500, "TemporaryFailure"),
    ("put_object", "SlowDown", 503, "TemporaryFailure"),
    ("put_object", "ServiceUnavailable", 503, "TemporaryFailure"),
    ("get_object", "AccessDenied", 403, "PermanentFailure"),
    ("put_object", "AccessDenied", 403, "PermanentFailure"),
])
def test_aws_failures_get_the_right_result_code_and_never_raise(app, s3, monkeypatch, operation, code, status,
                                                                expected):
    key = "uploads/faulty.jpg"
    s3.put_object(Bucket=BUCKET, Key=key, Body=encode(face("happy"), "JPEG"))
    # Every call of the operation fails (on get_object, the skip check's read of the result too).
    failing = FailingS3(s3, operation, code, status)
    monkeypatch.setattr(app, "s3_client", lambda: failing)
    task = only_result(invoke(app, batch_event(BUCKET, key)))
    assert task["resultCode"] == expected and task["resultString"].startswith(code)
    assert failing.injected >= 1


def test_a_transient_failure_then_the_retry_succeeds(app, s3, monkeypatch):
    key = "uploads/retried.jpg"
    s3.put_object(Bucket=BUCKET, Key=key, Body=encode(face("happy"), "JPEG"))
    flaky = FailingS3(s3, "put_object", "SlowDown", 503, failures=1)
    monkeypatch.setattr(app, "s3_client", lambda: flaky)
    assert only_result(invoke(app, batch_event(BUCKET, key)))["resultCode"] == "TemporaryFailure"
    assert only_result(invoke(app, batch_event(BUCKET, key)))["resultCode"] == "Succeeded"
    assert stored(s3, key)["status"] == "ok"


def test_a_bug_is_a_permanent_failure_not_a_raise(app, s3, monkeypatch):
    key = "uploads/bug.jpg"
    s3.put_object(Bucket=BUCKET, Key=key, Body=encode(face("happy"), "JPEG"))

    def broken(*args, **kwargs):
        raise ZeroDivisionError("bug")
    monkeypatch.setattr(app, "classify", broken)
    task = only_result(invoke(app, batch_event(BUCKET, key)))
    assert task["resultCode"] == "PermanentFailure" and "ZeroDivisionError" in task["resultString"]
