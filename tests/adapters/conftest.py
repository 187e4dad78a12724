"""One sandbox (SMTP + HTTP gateway) and one local S3 for the adapter suite, on free loopback ports."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import S3Settings, Settings
from omnibill.sandbox import Faults, Sandbox
from tests.adapters.helpers import moto_s3


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The sandbox providers, started once for the session on ports the OS picks."""
    with Sandbox(tmp_path_factory.mktemp("sandbox"), smtp_port=0, http_port=0) as box:
        yield box


@pytest.fixture
def faults(sandbox: Sandbox) -> Iterator[Faults]:
    """The sandbox's fault switch, back to "no faults" after the test."""
    yield sandbox.faults
    sandbox.faults.fail_rate = 0.0


@pytest.fixture(scope="session")
def s3_settings() -> Iterator[S3Settings]:
    """A moto S3 server for the session."""
    with moto_s3() as settings:
        yield settings


@pytest.fixture
def settings(sandbox: Sandbox, tmp_path: Path, s3_settings: S3Settings) -> Settings:
    """Settings for one test: its own data dir, pointed at the running sandbox and local S3."""
    # _env_file=None: a developer's .env must not redirect the suite to real providers.
    return sandbox.configure(Settings(_env_file=None, data_dir=tmp_path / "var", s3=s3_settings))


@pytest.fixture
def tag() -> str:
    """A prefix unique to the test, so message ids never collide with another test's."""
    return uuid.uuid4().hex[:8]
