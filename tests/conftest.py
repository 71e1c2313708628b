"""Shared fixtures. Fake credentials are set before anything imports boto3: no test reaches AWS."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from infra.local import LocalDeployment, import_handler, use_stand_in_environment  # noqa: E402

use_stand_in_environment()
os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"


@pytest.fixture
def aws():
    from moto import mock_aws
    with mock_aws():
        yield


@pytest.fixture
def app(aws):
    """function/app.py, imported as Lambda does, with its S3 client made inside the stand-in."""
    module = import_handler()
    module.s3_client.cache_clear()
    yield module
    module.s3_client.cache_clear()


@pytest.fixture
def deployment(aws):
    """Bucket with the template's trigger, a notification queue, and the handler."""
    deployment = LocalDeployment("test-uploads")
    deployment.app.s3_client.cache_clear()
    yield deployment
    deployment.app.s3_client.cache_clear()
