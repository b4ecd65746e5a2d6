"""Fixtures shared by the bcx-web tests (test_web, test_web_api, test_web_series); each module gives its own
`config`."""

from __future__ import annotations

import pytest

from bcx.store import TickStore
from bcx_web.app import create_app


@pytest.fixture
def client(config):
    return create_app(config, {"TESTING": True}).test_client()


@pytest.fixture
def store(redis_conn):
    return TickStore(redis_conn, "bcx", chunk_entries=4)  # small chunks: ranges span several
