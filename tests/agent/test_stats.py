from __future__ import annotations

import pytest

from agent import stats


def _round(wall, preempted, cpu=None, session=None, blocked=None) -> stats.Round:
    return stats.Round(wall_ms=list(wall), cpu_ms=None if cpu is None else list(cpu), preempted=list(preempted),
                       session=list(session) if session is not None else [0] * len(wall),
                       blocked=list(blocked) if blocked is not None else [False] * len(wall))


def test_quantiles_of_known_samples():
    q = stats.quantiles([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    assert q["median_ms"] == 6 and q["p10_ms"] == 2 and q["p90_ms"] == 10
    assert q["mad_ms"] == 3 and q["min_ms"] == 1 and q["mean_ms"] == 6


def test_multithreaded_rounds_drop_preempted_runs_when_enough_remain():
    assert _round([1.0, 9.0, 1.1, 1.2], [False, True, False, False]).corrected() == {0: [1.0, 1.1, 1.2]}
    assert _round([1.0, 9.0, 9.5], [False, True, True]).corrected() == {0: [1.0, 9.0, 9.5]}


def test_single_thread_rounds_use_cpu_time_of_preempted_runs_only_when_too_few_escaped():
    rnd = _round([1.0, 9.0, 1.1, 1.0], [False, True, False, False], cpu=[0.99, 1.05, 1.09, 0.98])
    assert rnd.corrected() == {0: [1.0, 1.1, 1.0]} and rnd.usable() == 4  # three clean runs: those
    assert stats.cpu_tracks_wall([rnd])
    few = _round([1.0, 9.0, 8.0, 1.0], [False, True, True, False], cpu=[0.99, 1.05, 1.09, 0.98])
    assert few.corrected() == {0: [1.0, 1.05, 1.09, 1.0]}
    per_session = _round([1.0, 9.0, 1.1, 1.0, 2.0, 2.1], [False, True, False, False, True, False],
                         cpu=[0.99, 1.05, 1.09, 0.98, 1.9, 2.1], session=[0, 0, 0, 0, 1, 1])
    assert per_session.corrected() == {0: [1.0, 1.1, 1.0], 1: [1.9, 2.1]}
    waits = _round([1.0, 1.0, 1.0, 5.0], [False, False, False, True], cpu=[0.1, 0.1, 0.1, 0.1])
    assert not stats.cpu_tracks_wall([waits])  # e.g. an accelerator: the thread waits
    assert stats.corrected_rounds([waits]) == [{0: [1.0, 1.0, 1.0]}]


def test_every_run_preempted_still_uses_cpu_time_when_the_thread_never_waited():
    # a long model on a core shared with another busy process: no run escapes preemption
    busy = _round([8.0, 8.2, 7.9, 8.1], [True] * 4, cpu=[4.0, 4.1, 3.9, 4.0])
    assert stats.cpu_tracks_wall([busy]) and stats.corrected_rounds([busy]) == [{0: [4.0, 4.1, 3.9, 4.0]}]
    waited = _round([8.0, 8.2, 7.9, 8.1], [True] * 4, cpu=[4.0, 4.1, 3.9, 4.0], blocked=[True] * 4)
    assert not stats.cpu_tracks_wall([waited])
    unknown = stats.Round(wall_ms=[8.0] * 4, cpu_ms=[4.0] * 4, preempted=[True] * 4, session=[0] * 4)
    assert not stats.cpu_tracks_wall([unknown])  # older results without the flags: wall times


def test_sessions_count_equally():
    rnd = _round([1.0, 1.0, 1.0, 1.0, 2.0], [False] * 5, session=[0, 0, 0, 0, 1])
    assert stats.value(rnd.corrected()) == pytest.approx(1.5)
    summary = stats.summarize([rnd, rnd], 0.03)
    assert summary["median_ms"] == pytest.approx(1.5) and summary["session_medians_ms"] == [1.0, 2.0]


def test_slow_rounds_are_not_accepted():
    rounds = [[1.00, 1.01], [1.50, 1.60], [1.02, 1.01], [1.2, 1.3]]
    assert stats.accepted_rounds([1.005, 1.55, 1.015, 1.25], 0.03) == [0, 2]
    summary = stats.summarize([_round(r, [False] * 2) for r in rounds], 0.03)
    assert summary["accepted_rounds"] == [0, 2] and summary["median_ms"] == pytest.approx(1.01)
    assert summary["median_all_ms"] > summary["median_ms"]
    assert summary["samples_ms"] == [s for r in rounds for s in r] and summary["round_sizes"] == [2, 2, 2, 2]


def test_settled_needs_two_agreeing_fast_rounds_and_a_narrow_spread():
    assert stats.settled([{0: [1.0] * 5}, {0: [1.01] * 5}, {0: [2.0] * 5}], 0.02, 0.25)
    assert not stats.settled([{0: [1.0] * 5}, {0: [1.1] * 5}], 0.02, 0.25)
    assert not stats.settled([{0: [1.0] * 5}], 0.02, 0.25)
    wide = [1.0, 1.0, 1.5, 1.5, 0.6, 0.6]
    assert not stats.settled([{0: wide}, {0: wide}], 0.02, 0.25)


def test_low_quantile_per_session_and_rebuilding_rounds():
    rnd = _round([1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0], [False] * 10,
                 session=[0] * 5 + [1] * 5)
    assert stats.low_quantile([rnd], 0.25) == pytest.approx((2.0 + 20.0) / 2)
    result = stats.summarize([rnd, rnd], 0.03)
    rebuilt = stats.rounds_from_result(result)
    assert [r.wall_ms for r in rebuilt] == [rnd.wall_ms, rnd.wall_ms]
    assert [r.session for r in rebuilt] == [rnd.session, rnd.session]


def test_sessions_agree_needs_a_strict_majority_near_the_median():
    assert stats.sessions_agree([1.0], 0.015)
    assert stats.sessions_agree([1.0, 1.02], 0.015) and not stats.sessions_agree([1.0, 1.04], 0.015)
    assert stats.sessions_agree([1.0, 1.01, 1.3], 0.015)  # one outlier session of three
    assert not stats.sessions_agree([1.0, 1.1, 1.2], 0.015)
    assert stats.sessions_agree([0.8, 1.0, 1.01, 1.005, 1.4], 0.015)
    assert not stats.sessions_agree([0.8, 1.0, 1.05, 1.2, 1.4], 0.015)


def test_median_over_sessions_ignores_an_outlier_session():
    rnd = _round([1.0] * 3 + [1.02] * 3 + [1.5] * 3, [False] * 9, session=[0] * 3 + [1] * 3 + [2] * 3)
    summary = stats.summarize([rnd, rnd], 0.03)
    assert summary["median_ms"] == pytest.approx(1.02) and summary["session_medians_ms"] == [1.0, 1.02, 1.5]
    assert summary["session_spread"] == pytest.approx(0.5 / 1.02)


def test_each_session_keeps_its_own_fastest_rounds():
    # session 0 ran uncontended in round 0, session 1 in round 1
    r0 = _round([1.0, 1.0, 2.6, 2.6], [False] * 4, session=[0, 0, 1, 1])
    r1 = _round([1.5, 1.5, 2.0, 2.0], [False] * 4, session=[0, 0, 1, 1])
    values, kept, accepted = stats.session_values(stats.corrected_rounds([r0, r1]), 0.03)
    assert values == {0: 1.0, 1: 2.0} and accepted == [0, 1] and kept == {0: [1.0, 1.0], 1: [2.0, 2.0]}


def test_round_factors_stay_comparable_when_a_session_is_added():
    two = [{0: [1.0], 1: [2.0]}, {0: [1.1], 1: [2.2]}]
    three = two + [{0: [1.0], 1: [2.0], 2: [5.0]}, {0: [1.2], 1: [2.4], 2: [6.0]}]
    assert stats.round_factors(two) == pytest.approx([1.0, 1.1])
    assert stats.round_factors(three) == pytest.approx([1.0, 1.1, 1.0, 1.2])
    assert stats.settled(three, 0.02, 0.25) and not stats.settled(three[1::2], 0.02, 0.25)


def test_warm_runs_are_preferred_to_runs_that_started_after_a_preemption():
    rnd = stats.Round(wall_ms=[1.0, 1.3, 1.1, 1.0, 1.0, 1.01], cpu_ms=[1.0, 1.2, 1.1, 1.0, 1.0, 1.01],
                      preempted=[False, True, False, False, False, False], session=[0] * 6,
                      blocked=[False] * 6, cold=[False, False, True, False, False, False])
    assert rnd.corrected() == {0: [1.0, 1.0, 1.0, 1.01]}
    rnd.cold = [True, False, True, True, False, False]  # two warm runs only: unpreempted ones instead
    assert rnd.corrected() == {0: [1.0, 1.1, 1.0, 1.0, 1.01]}
    result = stats.summarize([rnd], 0.03)
    assert result["cold"] == rnd.cold and stats.rounds_from_result(result)[0].cold == rnd.cold
