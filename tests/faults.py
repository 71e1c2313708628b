"""Fault injection for S3 calls: a wrapper around the real (moto) client whose chosen operation
raises a ClientError, the way throttling or a 5xx from S3 reaches the handler."""
from __future__ import annotations

from botocore.exceptions import ClientError


class FailingS3:
    """``operation`` fails for keys containing ``key_part`` (all keys by default), the first
    ``failures`` times (always when None). ``injected`` counts the faults raised."""

    def __init__(self, client, operation: str, code: str = "SlowDown", status: int = 503,
                 failures: int | None = None, key_part: str = ""):
        self._client, self._operation, self._code, self._status = client, operation, code, status
        self.failures_left, self.key_part, self.injected = failures, key_part, 0

    def __getattr__(self, name):
        real = getattr(self._client, name)
        if name != self._operation:
            return real

        def call(**kwargs):
            if self.key_part in kwargs.get("Key", "") and self.failures_left != 0:
                if self.failures_left is not None:
                    self.failures_left -= 1
                self.injected += 1
                raise ClientError({"Error": {"Code": self._code, "Message": "injected"},
                                   "ResponseMetadata": {"HTTPStatusCode": self._status}}, name)
            return real(**kwargs)
        return call
