"""Duplicates, re-uploads, faults, the failure destination and its replay."""
import json

import boto3
import pytest
from botocore.stub import Stubber

from faults import FailingS3
from images import encode, face
from infra.local import LocalContext
from infra.replay import lambda_invoker, replay


def _event_for(deployment, key):
    """The notification the stand-in raised for ``key`` (taken off the queue, not yet delivered)."""
    messages = deployment.sqs.receive_message(QueueUrl=deployment.queue_url, MaxNumberOfMessages=10)["Messages"]
    for m in messages:
        deployment.sqs.delete_message(QueueUrl=deployment.queue_url, ReceiptHandle=m["ReceiptHandle"])
    events = [json.loads(m["Body"]) for m in messages]
    return next(e for e in events if "Records" in e)


def test_duplicate_delivery_leaves_one_correct_result(deployment):
    key = f"{deployment.prefix}dup.jpg"
    deployment.upload(key, encode(face("happy"), "JPEG"))
    event = _event_for(deployment, key)
    first = deployment.app.handler(event, LocalContext())["results"][0]
    second = deployment.app.handler(event, LocalContext())["results"][0]
    assert first["status"] == second["status"] == "ok" and first["emotion"] == second["emotion"]
    keys = [o["Key"] for o in deployment.s3.list_objects_v2(Bucket=deployment.bucket)["Contents"]]
    assert sorted(keys) == [key, key + ".json"]


def test_reupload_gets_a_fresh_result_and_a_late_old_event_cannot_overwrite_it(deployment):
    key = f"{deployment.prefix}same-name.jpg"
    deployment.upload(key, encode(face("happy"), "JPEG"))
    old_event = _event_for(deployment, key)
    deployment.upload(key, encode(face("surprise").resize((60, 60)), "PNG"))  # new content, same key
    deployment.drain()
    fresh = deployment.result(key)
    assert fresh["image"]["format"] == "PNG"
    etag = deployment.s3.head_object(Bucket=deployment.bucket, Key=key)["ETag"].strip('"')
    assert fresh["source"]["etag"] == etag
    # The old event arrives late (at-least-once delivery): it is recognised and changes nothing.
    out = deployment.app.handler(old_event, LocalContext())["results"][0]
    assert out["status"] == "superseded"
    assert deployment.result(key) == fresh


def test_concurrent_duplicate_deliveries(deployment):
    from concurrent.futures import ThreadPoolExecutor
    key = f"{deployment.prefix}concurrent.jpg"
    deployment.upload(key, encode(face("sad"), "JPEG"))
    event = _event_for(deployment, key)
    # Separate containers in Lambda; here one interpreter, so calls are serialized by a lock.
    import threading
    lock = threading.Lock()

    def deliver(_):
        with lock:
            return deployment.app.handler(event, LocalContext())["results"][0]["status"]
    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(deliver, range(4))) == {"ok"}
    assert deployment.result(key)["status"] == "ok"


def test_very_long_keys_get_their_result_under_a_hashed_name(deployment):
    key = f"{deployment.prefix}{'d/' * 300}{'x' * 410}.jpg"
    assert len(key.encode()) <= 1024 < len((key + ".json").encode())
    deployment.upload(key, encode(face("happy"), "JPEG"))
    results = deployment.drain()
    result_key = results[0]["result_key"]
    assert result_key.startswith(f"{deployment.prefix}_long-keys/") and result_key.endswith(".json")
    body = json.loads(deployment.s3.get_object(Bucket=deployment.bucket, Key=result_key)["Body"].read())
    assert body["source"]["key"] == key and body["status"] == "ok"


@pytest.mark.parametrize("operation", ["get_object", "put_object"])
def test_exhausted_retries_reach_the_failure_queue_and_replay_redrives(deployment, monkeypatch, operation):
    app = deployment.app
    flaky = FailingS3(deployment.s3, operation, key_part="/poison.jpg")
    monkeypatch.setattr(app, "s3_client", lambda: flaky)
    deployment.upload(f"{deployment.prefix}poison.jpg", encode(face("happy"), "JPEG"))
    deployment.upload(f"{deployment.prefix}fine.jpg", encode(face("sad"), "JPEG"))
    deployment.drain()
    assert flaky.injected == 3  # first try and two retries, as EventInvokeConfig says
    assert deployment.result(f"{deployment.prefix}fine.jpg")["status"] == "ok"
    assert deployment.result(f"{deployment.prefix}poison.jpg") is None

    # The destination record holds the original event: enough to replay it.
    msgs = deployment.sqs.receive_message(QueueUrl=deployment.failure_queue_url, VisibilityTimeout=0)["Messages"]
    record = json.loads(msgs[0]["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"]["Records"][0]["s3"]["object"]["key"].endswith("poison.jpg")

    monkeypatch.setattr(app, "s3_client", lambda: deployment.s3)  # the fault has cleared
    counts = replay(deployment.sqs, deployment.failure_queue_url,
                    lambda payload: app.handler(payload, LocalContext()))
    assert counts == {"replayed": 1, "failed": 0, "unreadable": 0}
    assert deployment.result(f"{deployment.prefix}poison.jpg")["status"] == "ok"
    assert deployment.sqs.receive_message(QueueUrl=deployment.failure_queue_url).get("Messages") is None


def test_replay_keeps_records_whose_replay_fails(deployment):
    record = {"requestPayload": {"Records": [{"s3": {"object": {"key": "uploads/x.jpg"}}}]}}
    deployment.sqs.send_message(QueueUrl=deployment.failure_queue_url, MessageBody=json.dumps(record))
    deployment.sqs.send_message(QueueUrl=deployment.failure_queue_url, MessageBody="not json")

    def broken(_payload):
        raise RuntimeError("still failing")
    counts = replay(deployment.sqs, deployment.failure_queue_url, broken, limit=2)
    assert counts == {"replayed": 0, "failed": 1, "unreadable": 1}


def test_replay_invokes_the_function_asynchronously():
    client = boto3.client("lambda", region_name="us-east-1")
    payload = {"Records": [{"s3": {"object": {"key": "uploads/x.jpg"}}}]}
    with Stubber(client) as stub:
        stub.add_response("invoke", {"StatusCode": 202},
                          {"FunctionName": "fn", "InvocationType": "Event", "Payload": json.dumps(payload).encode()})
        lambda_invoker("fn", client)(payload)
        stub.assert_no_pending_responses()
