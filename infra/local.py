"""A local deployment: moto's S3 and SQS stand in for AWS, configured from template.yaml.

Uploads raise real bucket notifications (filtered by the template's prefix and suffix rules)
into a queue; ``drain`` hands each notification to the handler exactly as Lambda would.
Used by the local pipeline, the integration tests and the burst test.
"""
from __future__ import annotations

import importlib
import json
import os
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import ModuleType
from typing import Any

import boto3

from .stack import ROOT, function_environment, load_template, notification_configuration, trigger_rules

REGION = "us-east-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


@dataclass
class LocalContext:
    """The parts of Lambda's context object that Powertools reads."""

    function_name: str = "emotion-local"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:emotion-local"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def use_stand_in_environment(overrides: dict[str, Any] | None = None) -> dict[str, str]:
    """Fake credentials (so nothing can reach AWS) plus the function's template environment."""
    env = {**FAKE_CREDENTIALS, **function_environment(load_template(), overrides),
           "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_NAMESPACE": "EmotionService"}
    os.environ.update(env)
    return env


def import_handler(reload: bool = False) -> ModuleType:
    """Import function/app.py as Lambda does (its folder on the path); reload to re-read settings."""
    function_dir = str(ROOT / "function")
    if function_dir not in sys.path:
        sys.path.insert(0, function_dir)
    if "app" in sys.modules and reload:
        return importlib.reload(sys.modules["app"])
    app = importlib.import_module("app")
    app.s3_client.cache_clear()  # a client made before the stand-in started would not be mocked
    return app


def failure_record(event: dict[str, Any], error: Exception, attempts: int, context: LocalContext) -> dict[str, Any]:
    """What Lambda sends to an on-failure destination when retries are exhausted."""
    return {
        "version": "1.0",
        "timestamp": datetime.now(timezone.utc).isoformat(),
        "requestContext": {"requestId": context.aws_request_id, "functionArn": context.invoked_function_arn,
                           "condition": "RetriesExhausted", "approximateInvokeCount": attempts},
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": str(error), "errorType": type(error).__name__},
    }


class LocalDeployment:
    """Bucket + notification queue + handler, inside an active ``moto.mock_aws``."""

    def __init__(self, bucket: str = "emotion-local-uploads", overrides: dict[str, Any] | None = None,
                 reload: bool = False, max_retries: int = 2):
        self.bucket = bucket
        self.max_retries = max_retries  # as the template's EventInvokeConfig
        template = load_template()
        self.rules = trigger_rules(template, overrides)
        self.prefix = self.rules[0].prefix
        self.s3 = boto3.client("s3", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.s3.create_bucket(Bucket=bucket)
        self.queue_url = self.sqs.create_queue(QueueName=f"{bucket}-events")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        self.s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration=notification_configuration(self.rules, queue_arn))
        self.failure_queue_url = self.sqs.create_queue(QueueName=f"{bucket}-failures")["QueueUrl"]
        self.app = import_handler(reload=reload)
        self.invocations = 0

    def upload(self, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)

    def pending_events(self) -> int:
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.queue_url,
                                              AttributeNames=["ApproximateNumberOfMessages"])
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])

    def drain(self) -> list[dict[str, Any]]:
        """Deliver every queued notification to the handler; return the handler's outcomes."""
        outcomes = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return outcomes
            for message in messages:
                event = json.loads(message["Body"])
                if "Records" in event:  # skip s3:TestEvent, sent when the notification is configured
                    outcomes.extend(self.invoke_async(event))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def invoke_async(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Lambda's asynchronous invocation: retry on error, then the on-failure destination."""
        for attempt in range(1 + self.max_retries):
            self.invocations += 1
            context = LocalContext()
            try:
                return self.app.handler(event, context)["results"]
            except Exception as exc:  # what Lambda would record as a function error
                error = exc
        self.sqs.send_message(QueueUrl=self.failure_queue_url,
                              MessageBody=json.dumps(failure_record(event, error, 1 + self.max_retries, context)))
        return []

    def result(self, key: str) -> dict[str, Any] | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key + ".json")["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        return json.loads(body)
