from __future__ import annotations

import pytest

from agent import stats


def test_quantiles_of_known_samples():
    q = stats.quantiles([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    assert q["median_ms"] == 6 and q["p10_ms"] == 2 and q["p90_ms"] == 10
    assert q["mad_ms"] == 3 and q["min_ms"] == 1 and q["mean_ms"] == 6


def test_preempted_samples_are_dropped_when_enough_remain():
    assert stats.clean_round([1.0, 9.0, 1.1, 1.2], [False, True, False, False]) == [1.0, 1.1, 1.2]
    assert stats.clean_round([1.0, 9.0, 9.5], [False, True, True]) == [1.0, 9.0, 9.5]


def test_slow_rounds_are_not_accepted():
    rounds = [[1.00, 1.01], [1.50, 1.60], [1.02, 1.01], [1.2, 1.3]]
    assert stats.accepted_rounds(rounds, 0.03) == [0, 2]
    summary = stats.summarize(rounds, [[False] * 2] * 4, 0.03)
    assert summary["median_ms"] == pytest.approx(1.01)
    assert summary["median_all_ms"] > summary["median_ms"]
    assert summary["samples_ms"] == [s for r in rounds for s in r] and summary["round_sizes"] == [2, 2, 2, 2]


def test_settled_needs_two_agreeing_fast_rounds_and_a_narrow_spread():
    assert stats.settled([[1.0] * 5, [1.01] * 5, [2.0] * 5], 0.02, 0.25)
    assert not stats.settled([[1.0] * 5, [1.1] * 5], 0.02, 0.25)
    assert not stats.settled([[1.0] * 5], 0.02, 0.25)
    wide = [1.0, 1.0, 1.5, 1.5, 0.6, 0.6]
    assert not stats.settled([wide, wide], 0.02, 0.25)
