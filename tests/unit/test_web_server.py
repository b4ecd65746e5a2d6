"""bcx-web's gunicorn settings: the worker hook that tunes the garbage collector once the app is loaded."""

from __future__ import annotations

import gc

import pytest

from bcx.config import load_config, packaged_default
from bcx_web.cli import GC_YOUNG_THRESHOLD, WebServer, gunicorn_options, post_worker_init


@pytest.fixture
def gc_state():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_gunicorn_takes_the_gc_hook_as_its_post_worker_init_setting():
    """Through gunicorn's own config: WebServer skips a key gunicorn does not know (a misspelt hook would be
    dropped silently), and gunicorn's worker calls `cfg.post_worker_init(worker)` once its app is loaded."""
    config = load_config(str(packaged_default()))
    server = WebServer(config, gunicorn_options(config, "INFO"))
    assert server.cfg.post_worker_init is post_worker_init


def test_hook_freezes_what_is_loaded_and_collects_young_objects_less_often(gc_state):
    older = gc.get_threshold()[1:]
    post_worker_init(None)
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *older)
