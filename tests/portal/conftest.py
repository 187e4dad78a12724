"""Fixtures of the portal tests: one monthly run per test module, kept for all its tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.portal.support import World, monthly_world


@pytest.fixture(scope="module")
def world(prefect_harness, tmp_path_factory) -> Iterator[World]:
    """The demo tenant's PERIOD run (SEED, CUSTOMERS) through the sandbox providers, with settings pointed at it.

    The portal's rate limit is generous here: the tests that count requests make their own app.
    """
    with monthly_world(tmp_path_factory.mktemp("portal"), PORTAL__RATE_LIMIT="100000/minute") as done:
        yield done
