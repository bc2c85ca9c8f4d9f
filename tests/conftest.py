"""Test environment: fixed table names, fake credentials, no real AWS."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

# Before anything imports the app: settings are read once per process.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "STAGE": "test",
        "FAVORITES_TABLE": "favorites-test",
        "FAVORITE_COUNTS_TABLE": "favorite-counts-test",
        "FAVORITES_STREAM_ARN": (
            "arn:aws:dynamodb:us-east-1:123456789012:table/favorites-test"
            "/stream/2026-11-01T00:00:00.000"
        ),
        # Two browser origins, as a web app and a developer's server would be.
        "CORS_ALLOW_ORIGINS": "https://app.example.com,http://localhost:5173",
    }
)
os.environ.pop("DYNAMODB_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def client(dynamodb: Any) -> Iterator[Client]:
    """Chalice's test client on whichever tables the tier's ``dynamodb`` fixture made."""
    from app import app

    # A stage the config does not define: no stage variables leak into tests.
    with Client(app, stage_name="test", project_dir=str(ROOT)) as test_client:
        yield test_client


@pytest.fixture
def lambda_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """``chalicelib.logs.configure`` as Lambda runs it (stdout is this buffer)."""
    from chalicelib import logs

    logger = logging.getLogger("chalicelib")
    saved = (logger.level, logger.propagate, list(logger.handlers))
    stdout = io.StringIO()
    monkeypatch.setattr("sys.stdout", stdout)
    lambda_env = {"AWS_LAMBDA_FUNCTION_NAME": "favorites-prod-aggregate"}
    logs.configure("prod", "DEBUG", lambda_env)
    logs.configure("prod", "DEBUG", lambda_env)  # idempotent: still one handler
    yield stdout
    logs.bind()
    logger.setLevel(saved[0])
    logger.propagate = saved[1]
    logger.handlers[:] = saved[2]
