"""Lambda handler: classify the emotion in each uploaded image, store the result beside it.

The result of ``s3://B/uploads/a/b.jpg`` is ``s3://B/uploads/a/b.jpg.json``. A bad image gets
an error result (a final answer, no retry). Two deliveries, one story per object:

- S3 event notifications (new uploads): a transient AWS failure raises so Lambda retries.
- S3 Batch Operations tasks (the backfill, ``python -m infra.backfill``): a result already made
  from the same object ETag by the same model name and version is left as it is, unless the job's
  user argument ``force`` is ``"true"``; each task answers a result code and never raises.
"""
from __future__ import annotations

import json
import time
from functools import cache
from urllib.parse import unquote_plus

import botocore.session
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.data_classes import (S3BatchOperationEvent, S3BatchOperationResponse,
                                                           S3Event)
from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import (
    S3BatchOperationResponseRecord, S3BatchOperationTask)
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord
from botocore.exceptions import BotoCoreError, ClientError

from emotion.analysis import analyze
from emotion.classifier import EmotionClassifier
from emotion.faces import load_detector
from emotion.imaging import ImageError
from emotion.results import Source, error_result, ok_result, write_result
from emotion.settings import Settings

logger = Logger()
metrics = Metrics()
tracer = Tracer()

# Loaded once per container, at import: warm invocations pay nothing for the model.
SETTINGS = Settings.from_env()
CLASSIFIER = EmotionClassifier.load(SETTINGS.model_dir, SETTINGS.model_name, SETTINGS.num_threads)
DETECTOR = (load_detector(SETTINGS.model_dir, SETTINGS.face_detector, SETTINGS.num_threads)
            if SETTINGS.face_detection else None)
MODEL_INFO = {"name": CLASSIFIER.name, "version": CLASSIFIER.version}
RESULT_READ_LIMIT = 1024 * 1024  # a result with 100 faces is about 50 KB; never read an unbounded body


class RecordsFailed(RuntimeError):
    """Some records hit a transient failure; raising makes Lambda retry the event."""


class _ObjectGone(Exception):
    """The object was deleted before it could be read: nothing to classify, nothing to retry."""


class _ObjectReplaced(Exception):
    """The object's ETag no longer matches the event's: a newer upload has its own event."""


class _ResultCurrent(Exception):
    """The object still has the ETag its result was made from, by this very model: nothing to redo."""


# What S3 answers when it is overloaded or briefly failing: Batch Operations retries these tasks.
TRANSIENT_CODES = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout",
                             "RequestLimitExceeded", "InternalError", "ServiceUnavailable", "503", "500"})


@cache
def s3_client():
    # botocore directly: boto3 would add its transfer manager to every cold start (~0.1 s).
    return botocore.session.get_session().create_client("s3", endpoint_url=SETTINGS.s3_endpoint_url)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True, raise_on_empty_metrics=False)
def handler(event: dict, context) -> dict:
    """S3 event notifications and S3 Batch Operations invocations, told apart by their shape."""
    if "invocationSchemaVersion" in event:
        return handle_batch_task(S3BatchOperationEvent(event))
    return handle_s3_event(S3Event(event))


def handle_s3_event(event: S3Event) -> dict:
    records = event.raw_event.get("Records") or []  # s3:TestEvent and the like have none
    outcomes, failures = [], []
    for record in (S3EventRecord(r) for r in records):
        try:
            outcomes.append(process_upload(source_of_record(record)))
        except Exception as exc:  # keep going: one record's failure must not lose the others
            logger.exception("record failed; the event will be retried", extra={"error": repr(exc)})
            failures.append(f"{record.s3.get_object.key}: {exc!r}")
    if failures:
        raise RecordsFailed(f"{len(failures)} of {len(records)} records failed: {failures}")
    return {"results": outcomes}


def source_of_record(record: S3EventRecord) -> Source:
    obj = record.s3.get_object
    # Keys arrive URL-encoded ("+" is a space); the ETag pins the read to the announced content.
    return Source(record.s3.bucket.name, unquote_plus(obj.key), obj.size, obj.etag, obj.version_id)


def handle_batch_task(event: S3BatchOperationEvent) -> dict:
    """One Batch Operations task: the same story as an upload, answered with a result code."""
    # Batch Operations sends exactly one task per invocation (and the response class insists).
    task = event.task
    logger.append_keys(job_id=event.job.get_id, task_id=task.task_id)
    # Schema 1.0 has no user arguments, so only a 2.0 job can force.
    force = event.job.user_arguments.get("force", "").strip().lower() == "true"
    response = S3BatchOperationResponse(event.invocation_schema_version, event.invocation_id, "PermanentFailure")
    response.add_result(run_task(task, force))
    return response.asdict()


def run_task(task: S3BatchOperationTask, force: bool) -> S3BatchOperationResponseRecord:
    # No ETag: a task names the object as it is now (the manifest may be hours old).
    source = Source(task.s3_bucket, task.s3_key, None, None, task.s3_version_id)
    try:
        outcome = process_upload(source, skip_current=not force)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, status = str(error.get("Code", "")), exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        transient = code in TRANSIENT_CODES or status >= 500
        logger.warning("task failed", extra={"code": code, "status": status, "transient": transient})
        return task.build_task_batch_response("TemporaryFailure" if transient else "PermanentFailure",
                                              f"{code or status}: {error.get('Message', '')}".strip())
    except BotoCoreError as exc:  # connection reset, read timeout: worth another try
        logger.warning("task failed on the connection", extra={"error": repr(exc)})
        return task.build_task_batch_response("TemporaryFailure", repr(exc))
    except Exception as exc:  # a bug: retrying the same input would fail the same way
        logger.exception("task failed")
        return task.build_task_batch_response("PermanentFailure", repr(exc))
    with single_metric(name="BatchTasks", unit=MetricUnit.Count, value=1) as metric:
        metric.add_dimension(name="status", value=outcome["status"])
    if outcome["status"] == "gone":
        return task.build_task_batch_response("PermanentFailure", "NoSuchKey: the object no longer exists")
    return task.build_task_batch_response("Succeeded", describe(outcome))


def describe(outcome: dict) -> str:
    """The completion report's result message: status first, so reports can be counted by it."""
    parts = [outcome["status"], outcome.get("emotion") or "", outcome.get("result_key") or ""]
    return " ".join(p for p in parts if p)


def process_upload(source: Source, skip_current: bool = False) -> dict:
    """The story of one upload: read it, classify it, write the result beside it.

    ``skip_current``: leave a result made from this very content by this model as it is."""
    bucket, key = source.bucket, source.key
    logger.append_keys(bucket=bucket, key=key)
    if SETTINGS.is_result(key) or not SETTINGS.is_image_key(key):
        logger.info("skipped: not an image upload (results and other objects are never classified)")
        metrics.add_metric(name="UploadsSkipped", unit=MetricUnit.Count, value=1)
        return {"key": key, "status": "skipped"}

    started = time.perf_counter()
    result_key = SETTINGS.result_key(key)
    timing: dict[str, float] = {}
    try:
        current_etag = current_result_etag(bucket, result_key) if skip_current else None
        data = read_upload(source, timing, unless_etag=current_etag)
        result = classify(data, source, timing)
    except ImageError as err:
        timing["total"] = _ms_since(started)
        result = error_result(source, MODEL_INFO, err.code, err.message, timing)
        logger.warning("bad image", extra={"code": err.code, "reason": err.message})
        metrics.add_metric(name="ImageErrors", unit=MetricUnit.Count, value=1)
        with single_metric(name="ImageErrorsByCode", unit=MetricUnit.Count, value=1) as metric:
            metric.add_dimension(name="code", value=err.code)
    except _ObjectGone:
        logger.warning("object deleted before it could be read; nothing to classify")
        metrics.add_metric(name="UploadsGone", unit=MetricUnit.Count, value=1)
        return {"key": key, "status": "gone"}
    except _ObjectReplaced:
        # Re-uploaded since this event: the newer upload's own event writes the result.
        logger.info("object replaced since this event; its newer event will classify it")
        metrics.add_metric(name="UploadsSuperseded", unit=MetricUnit.Count, value=1)
        return {"key": key, "status": "superseded"}
    except _ResultCurrent:
        logger.info("result is current: same content, same model; left as it is")
        metrics.add_metric(name="ResultsCurrent", unit=MetricUnit.Count, value=1)
        return {"key": key, "status": "current", "result_key": result_key}

    store_result(bucket, result_key, result)
    logger.info("result stored", extra={"result_key": result_key, "status": result["status"],
                                        "emotion": result["emotion"]})
    return {"key": key, "status": result["status"], "emotion": result["emotion"], "result_key": result_key}


@tracer.capture_method
def current_result_etag(bucket: str, result_key: str) -> str | None:
    """The source ETag recorded by the existing result, if this model (name and version) made it."""
    try:
        response = s3_client().get_object(Bucket=bucket, Key=result_key)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        # Without s3:ListBucket, S3 answers a missing key with 403: either way, nothing to keep.
        if code in ("NoSuchKey", "404", "AccessDenied", "403"):
            return None
        raise
    body = response["Body"]
    try:
        previous = json.loads(body.read(RESULT_READ_LIMIT))
    except ValueError:  # unreadable: make a fresh one
        return None
    finally:
        body.close()
    if not isinstance(previous, dict) or previous.get("model") != MODEL_INFO:
        return None
    return (previous.get("source") or {}).get("etag") or None


@tracer.capture_method
def read_upload(source: Source, timing: dict[str, float], unless_etag: str | None = None) -> bytes:
    """Download the object, refusing more than ``max_image_bytes``.

    ``unless_etag``: raise ``_ResultCurrent`` instead when the object still has this ETag."""
    started = time.perf_counter()
    limit = SETTINGS.max_image_bytes
    # If-Match pins the read to the content this event announced, so a duplicate or late
    # event can never overwrite the result of a newer upload under the same key.
    condition = {"IfMatch": source.etag} if source.etag else {}
    if unless_etag:
        # One request either way: 304 when unchanged (no body sent), the new content otherwise.
        condition["IfNoneMatch"] = f'"{unless_etag}"'
    try:
        response = s3_client().get_object(Bucket=source.bucket, Key=source.key, **condition)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("NoSuchKey", "404"):
            raise _ObjectGone() from exc
        if code in ("PreconditionFailed", "412"):
            raise _ObjectReplaced() from exc
        if code in ("NotModified", "304"):
            raise _ResultCurrent() from exc
        if code == "InvalidObjectState":  # Glacier or Deep Archive: no retry within hours could read it
            raise ImageError("archived", "the object is in an archive storage class: restore it, then run "
                                         "the backfill with force to classify it") from exc
        raise  # throttling, 5xx, access denied: let Lambda retry and, finally, the failure destination
    source.size = response.get("ContentLength", source.size)
    source.etag = (response.get("ETag") or source.etag or "").strip('"') or None
    source.version_id = response.get("VersionId", source.version_id)
    body = response["Body"]
    try:
        if source.size is not None and source.size > limit:
            raise ImageError("too_large", f"the object is {source.size:,} bytes; the limit is {limit:,}")
        data = body.read(limit + 1)  # never trust the header alone
    finally:
        body.close()
    if len(data) > limit:
        raise ImageError("too_large", f"the object is over the limit of {limit:,} bytes")
    timing["download"] = _ms_since(started)
    return data


@tracer.capture_method
def classify(data: bytes, source: Source, timing: dict[str, float]) -> dict:
    analysis = analyze(data, SETTINGS, CLASSIFIER, DETECTOR)
    timing.update(analysis.timing_ms)
    timing["total"] = sum(timing.values())

    metrics.add_metric(name="ImagesClassified", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="FacesFound", unit=MetricUnit.Count, value=len(analysis.faces))
    metrics.add_metric(name="InferenceTime", unit=MetricUnit.Milliseconds, value=timing["inference"])
    for face in analysis.faces:
        with single_metric(name="Emotions", unit=MetricUnit.Count, value=1) as metric:
            metric.add_dimension(name="emotion", value=face["emotion"])
    return ok_result(source, MODEL_INFO, analysis.image, analysis.faces, analysis.method, timing)


@tracer.capture_method
def store_result(bucket: str, key: str, result: dict) -> None:
    write_result(s3_client(), bucket, key, result)


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
