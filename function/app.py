"""Lambda handler: classify the emotion in each uploaded image, store the result beside it.

The result of ``s3://B/uploads/a/b.jpg`` is ``s3://B/uploads/a/b.jpg.json``. A bad image gets
an error result (a final answer, no retry); a transient AWS failure raises so Lambda retries.
"""
from __future__ import annotations

import time
from functools import cache
from urllib.parse import unquote_plus

import botocore.session
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord
from botocore.exceptions import ClientError

from emotion.analysis import analyze
from emotion.classifier import EmotionClassifier
from emotion.faces import FaceDetector
from emotion.imaging import ImageError
from emotion.results import Source, error_result, ok_result, write_result
from emotion.settings import Settings

logger = Logger()
metrics = Metrics()
tracer = Tracer()

# Loaded once per container, at import: warm invocations pay nothing for the model.
SETTINGS = Settings.from_env()
CLASSIFIER = EmotionClassifier.load(SETTINGS.model_dir, SETTINGS.model_name, SETTINGS.num_threads)
DETECTOR = (FaceDetector.load(SETTINGS.model_dir, SETTINGS.face_detector, SETTINGS.num_threads)
            if SETTINGS.face_detection else None)
MODEL_INFO = {"name": CLASSIFIER.name, "version": CLASSIFIER.version}


class RecordsFailed(RuntimeError):
    """Some records hit a transient failure; raising makes Lambda retry the event."""


class _ObjectGone(Exception):
    """The object was deleted before it could be read: nothing to classify, nothing to retry."""


class _ObjectReplaced(Exception):
    """The object's ETag no longer matches the event's: a newer upload has its own event."""


@cache
def s3_client():
    # botocore directly: boto3 would add its transfer manager to every cold start (~0.1 s).
    return botocore.session.get_session().create_client("s3", endpoint_url=SETTINGS.s3_endpoint_url)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True, raise_on_empty_metrics=False)
@event_source(data_class=S3Event)
def handler(event: S3Event, context) -> dict:
    records = event.raw_event.get("Records") or []  # s3:TestEvent and the like have none
    outcomes, failures = [], []
    for record in (S3EventRecord(r) for r in records):
        try:
            outcomes.append(process_upload(record))
        except Exception as exc:  # keep going: one record's failure must not lose the others
            logger.exception("record failed; the event will be retried", extra={"error": repr(exc)})
            failures.append(f"{record.s3.get_object.key}: {exc!r}")
    if failures:
        raise RecordsFailed(f"{len(failures)} of {len(records)} records failed: {failures}")
    return {"results": outcomes}


def process_upload(record: S3EventRecord) -> dict:
    """The story of one upload: read it, classify it, write the result beside it."""
    bucket = record.s3.bucket.name
    key = unquote_plus(record.s3.get_object.key)  # keys arrive URL-encoded ("+" is a space)
    logger.append_keys(bucket=bucket, key=key)
    if SETTINGS.is_result(key) or not SETTINGS.is_image_key(key):
        logger.info("skipped: not an image upload (results and other objects are never classified)")
        metrics.add_metric(name="UploadsSkipped", unit=MetricUnit.Count, value=1)
        return {"key": key, "status": "skipped"}

    started = time.perf_counter()
    source = Source(bucket, key, record.s3.get_object.size, record.s3.get_object.etag,
                    record.s3.get_object.version_id)
    timing: dict[str, float] = {}
    try:
        data = read_upload(source, timing)
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

    result_key = SETTINGS.result_key(key)
    store_result(bucket, result_key, result)
    logger.info("result stored", extra={"result_key": result_key, "status": result["status"],
                                        "emotion": result["emotion"]})
    return {"key": key, "status": result["status"], "emotion": result["emotion"], "result_key": result_key}


@tracer.capture_method
def read_upload(source: Source, timing: dict[str, float]) -> bytes:
    """Download the object, refusing more than ``max_image_bytes``."""
    started = time.perf_counter()
    limit = SETTINGS.max_image_bytes
    # If-Match pins the read to the content this event announced, so a duplicate or late
    # event can never overwrite the result of a newer upload under the same key.
    condition = {"IfMatch": source.etag} if source.etag else {}
    try:
        response = s3_client().get_object(Bucket=source.bucket, Key=source.key, **condition)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("NoSuchKey", "404"):
            raise _ObjectGone() from exc
        if code in ("PreconditionFailed", "412"):
            raise _ObjectReplaced() from exc
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
