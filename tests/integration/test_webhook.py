"""Webhook delivery against a local HTTP stub: retries with backoff, permanent refusals, a dead endpoint that never
holds up the caller."""

from __future__ import annotations

from bcx.alerts import Alert
from bcx.embedded import free_port
from bcx_watcher.webhook import WebhookSender
from tests.e2e.conftest import wait_for
from tests.webhook_stub import WebhookStub


def alert(n: int) -> Alert:
    return Alert(
        "r", "coinbase:BTC-USD", "threshold", "price", ">", "101", "100", 1_700_000_000_000 + n, "m", n, f"1-{n}"
    )


def test_delivers_after_server_errors_with_backoff():
    with WebhookStub([500, 503]) as stub:
        sender = WebhookSender(stub.url, backoff_base=0.01)
        sender.send(alert(1))
        sender.send(alert(2))
        wait_for(lambda: len(stub.received) == 2, timeout=20, what="both alerts delivered")
        sender.stop()
    assert [body["id"] for body in stub.received] == ["1-1", "1-2"]
    assert stub.received[0]["rule"] == "r" and stub.received[0]["value"] == "101"
    assert (stub.attempts, sender.delivered, sender.failed) == (4, 2, 0)


def test_a_refusal_is_not_retried():
    with WebhookStub([400]) as stub:
        sender = WebhookSender(stub.url, backoff_base=0.01)
        sender.send(alert(1))
        sender.send(alert(2))
        wait_for(lambda: sender.delivered + sender.failed == 2, timeout=20, what="both alerts handled")
        sender.stop()
    assert (stub.attempts, sender.delivered, sender.failed) == (2, 1, 1)
    assert [body["id"] for body in stub.received] == ["1-2"]


def test_a_dead_endpoint_never_blocks_send_and_stop_gives_up():
    sender = WebhookSender(f"http://127.0.0.1:{free_port()}/hook", backoff_base=30.0, stop_grace=0.2)
    for n in range(50):
        sender.send(alert(n))
    assert (sender.delivered, sender.failed) == (0, 0)  # queued: the first is still waiting out its backoff
    sender.stop()  # aborts the backoff instead of waiting for it
    assert not sender.thread.is_alive()
    assert sender.delivered == 0


def test_failures_log_the_host_only_and_at_a_bounded_rate(caplog):
    """Issue 14: the full URL (path tokens included) was logged on every failed attempt."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/services/T000SECRET/B000/XXXXTOKEN?key=QUERYSECRET"
    sender = WebhookSender(url, backoff_base=0.0001, max_attempts=3)
    for n in range(30):
        sender.send(alert(n))
    wait_for(lambda: sender.failed == 30, timeout=30, what="every alert given up")
    sender.stop()
    assert f"webhook 127.0.0.1:{port}: " in caplog.text
    assert "SECRET" not in caplog.text and "TOKEN" not in caplog.text and "/services" not in caplog.text
    assert caplog.text.count("giving up on alert") == 10
    assert caplog.text.count("trying again") == 10
