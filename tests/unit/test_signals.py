"""The Stopper's signals, delivered for real to this process: TERM stops, a second TERM exits at once, HUP (for
a service) asks for the logs to be reopened instead of killing; a daemon's loop reopens them."""

from __future__ import annotations

import logging
import os
import signal

import pytest

from bcx.daemon import Stopper, run_loop


@pytest.fixture
def restore_handlers():
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_term_stops_then_a_second_exits_at_once(restore_handlers):
    stopper = Stopper().install()
    os.kill(os.getpid(), signal.SIGTERM)
    assert stopper.stopping and stopper.signal_name == "SIGTERM"
    with pytest.raises(SystemExit):
        os.kill(os.getpid(), signal.SIGTERM)


def test_hup_reopens_the_log_file_in_the_loop(restore_handlers, tmp_path):
    path = tmp_path / "d.log"
    handler = logging.FileHandler(path)
    logging.getLogger().addHandler(handler)
    try:
        stopper = Stopper().install(reopen_on_hup=True)
        path.rename(tmp_path / "d.log.1")  # logrotate moved it
        os.kill(os.getpid(), signal.SIGHUP)  # and sent HUP: we are still here
        assert stopper.hangup and not stopper.stopping

        def loop_once(now: float) -> None:
            logging.getLogger("test").warning("after rotation")
            stopper.stop()

        run_loop(lambda: None, loop_once, lambda: None, stopper)
        assert "after rotation" in path.read_text() and not stopper.hangup
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
