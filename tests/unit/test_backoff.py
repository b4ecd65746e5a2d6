from __future__ import annotations

import pytest

from bcx.backoff import backoff_delay


def test_doubles_from_base_up_to_cap():
    assert [backoff_delay(n, base=1, cap=60, rand=0.999999) for n in (1, 2, 3, 4)] == pytest.approx([1, 2, 4, 8])
    assert backoff_delay(30, base=1, cap=60, rand=0.999999) == pytest.approx(60)
    assert backoff_delay(10_000, base=1, cap=60, rand=0.0) == pytest.approx(30)


def test_jitter_stays_between_half_and_full():
    for rand in (0.0, 0.3, 0.99):
        assert 4 <= backoff_delay(4, base=1, cap=60, rand=rand) <= 8


def test_no_failure_no_wait():
    assert backoff_delay(0) == 0
