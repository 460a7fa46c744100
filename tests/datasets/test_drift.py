"""datasets.drift: a device's speed drift per time window, from its own corpus records."""

import math

import numpy as np
import pytest

from datasets import drift


def _record(i, space, window, latency_ms, macs, dev="dev-a", ref=None):
    m = {"median_ms": latency_ms, "latency_ms": latency_ms, "runtime": "onnxruntime", "threads": 2}
    if ref is not None:
        m["drift_reference"] = {"set": "s1-v1", "labels_ms": ref}
    return {"arch_id": f"{space}-{i}", "space": space, "device_key": dev, "_sealed_at": window,
            "summary": {"macs": macs, "bytes_read": macs // 10, "bytes_written": macs // 20}, "measurement": m}


def _corpus(true_factors, n_per_window=120, noise=0.1, seed=0):
    """Records whose latency = a per-space roofline x the window's factor x noise."""
    rng = np.random.default_rng(seed)
    recs, i = [], 0
    for window, f in true_factors.items():
        for k in range(n_per_window):
            space = ("nb201", "resnet", "vit")[k % 3]
            macs = int(rng.uniform(1e6, 1e9))
            base = {"nb201": 2e-8, "resnet": 1e-8, "vit": 3e-8}[space] * macs + 0.05
            recs.append(_record(i, space, window, base * f * math.exp(rng.normal(0, noise)), macs))
            i += 1
    return recs


def test_estimated_factors_recover_a_drift_that_is_the_same_in_every_space():
    truth = {"20261127T190102": 0.9, "20261127T200000": 1.0, "20261127T220500": 1.2}
    recs = _corpus(truth)
    got = drift.estimate(recs)
    geo = math.exp(np.mean([math.log(f) for f in truth.values()]))  # factors are relative to the mean state
    for stamp, f in truth.items():
        est = got[("dev-a", stamp[:11])]
        assert est["n"] == 120
        assert est["factor"] == pytest.approx(f / geo, rel=0.03)


def test_a_window_of_int8_records_is_not_read_as_a_faster_device():
    """The same speed throughout, fp32 and int8 TFLite graphs of the same spaces in the first two
    hours, then an hour of int8 only (session 17: an int8-only corpus run): int8 runs ~2.5x faster per
    MAC, which a regression over both variants read as the device speeding up in that hour."""
    recs = []
    for j, (window, variants) in enumerate({"20261206T030000": ("fp32", "int8"), "20261206T040000": ("fp32", "int8"),
                                            "20261206T200000": ("int8", "int8")}.items()):
        for r in _corpus({window: 1.0}, n_per_window=120, noise=0.05, seed=j):
            variant = variants[int(r["arch_id"].split("-")[1]) % 2]
            if variant == "int8":
                r["measurement"]["median_ms"] /= 2.5
                r["measurement"]["latency_ms"] /= 2.5
            recs.append(r | {"variant": variant, "arch_id": f"{r['arch_id']}-{j}"})
    got = drift.estimate(recs)
    for window in ("20261206T03", "20261206T04", "20261206T20"):
        assert got[("dev-a", window)]["factor"] == pytest.approx(1.0, abs=0.03), window
    mixed = drift.estimate([r | {"variant": "fp32"} for r in recs])  # as if the variant were not known
    assert mixed[("dev-a", "20261206T20")]["factor"] < 0.8


def test_windows_too_small_test_spaces_and_help_devices_get_no_factor():
    recs = _corpus({"20261127T190000": 1.0, "20261127T200000": 1.3}, n_per_window=120)
    recs += _corpus({"20261127T210000": 2.0}, n_per_window=20, seed=1)  # too few records
    zoo = _record(999, "zoo", "20261127T200500", 5.0, 10**9)
    recs.append(zoo)
    recs += [r | {"device_key": "help-pixel3"} for r in _corpus({"20261127T190000": 1.0}, seed=2)]
    got = drift.estimate(recs, min_records=60)
    assert ("dev-a", "20261127T21") not in got
    assert not any(dev.startswith("help-") for dev, _ in got)
    # the zoo never estimates, but takes the factor of the window it was measured in
    assert drift.factor(got, zoo) == got[("dev-a", "20261127T20")]["factor"] > 1.0
    assert drift.factor(got, _record(0, "zoo", "20261127T230000", 1.0, 10)) == 1.0
    assert drift.window_of({"_sealed_at": None}) == drift.PENDING
    # the hour a record was measured wins over the hour its shard was sealed
    assert drift.window_of({"_sealed_at": "20261127T230102", "measurement": {"measured_at": "20261127T224500"}}) \
        == "20261127T22"


def test_reference_factors_follow_the_measured_reference_models():
    recs = [_record(i, "nb201", "20261127T190000", 1.0, 10**6, ref={"a": 1.0, "b": 4.0}) for i in range(5)]
    recs += [_record(i, "nb201", "20261127T200000", 1.0, 10**6, ref={"a": 1.2, "b": 4.8}) for i in range(5)]
    got = drift.reference_factors(recs)
    ratio = got[("dev-a", "20261127T20")]["factor"] / got[("dev-a", "20261127T19")]["factor"]
    assert ratio == pytest.approx(1.2)


def test_windows_without_sampled_records_take_the_reference_factor_on_the_estimates_scale():
    # two corpus windows with the reference measured alongside, then a zoo run alone in a third hour
    recs = _corpus({"20261127T190000": 0.9, "20261127T200000": 1.1})
    for r in recs:
        slow = r["_sealed_at"].startswith("20261127T20")
        r["measurement"]["drift_reference"] = {"set": "s1-v1", "labels_ms": {"a": 2.2 if slow else 1.8}}
    # one reference label per pass of the zoo group; a contended pass is slower (session 22: the
    # family-6 model-207 CPU's zoo, whose labels keep the fastest pass, read 1.14 from the passes' median)
    zoo = _record(999, "zoo", "20261127T220000", 5.0, 10**9, ref={"a": [3.1, 2.4, 2.6]})
    got = drift.factors(recs + [zoo])
    est = drift.estimate(recs + [zoo])
    assert ("dev-a", "20261127T22") not in est
    # the reference's fastest pass says the zoo hour is 2.4/2.2 of the slow hour: so is its factor
    assert drift.factor(got, zoo) == pytest.approx(est[("dev-a", "20261127T20")]["factor"] * 2.4 / 2.2, rel=0.02)
    assert got[("dev-a", drift.PASSES + "20261127T22")]["from"] == "reference"


def test_a_zoo_measured_in_a_sampled_hour_takes_its_fastest_pass_reference_not_the_hours_estimate():
    """Session 23: the sampled records of an hour are one pass's medians (contention included) and
    read that hour 1.08 slower; the zoo measured in the same hour keeps its fastest pass, and so
    does its reference, which read 1.03. Dividing the zoo by 1.08 would over-correct it."""
    recs = _corpus({"20261127T190000": 1.0, "20261127T200000": 1.0, "20261207T150000": 1.08}, noise=0.03)
    for r in recs:
        slow = r["_sealed_at"].startswith("20261207")
        r["measurement"]["drift_reference"] = {"set": "s1-v1", "labels_ms": {"a": 2.16 if slow else 2.0}}
    zoo = _record(999, "zoo", "20261207T150000", 5.0, 10**9, ref={"a": [2.3, 2.06, 2.2]})
    zoo["measurement"]["measured_at"] = "20261207T153000"
    got = drift.factors(recs + [zoo])
    hour = got[("dev-a", "20261207T15")]["factor"] / got[("dev-a", "20261127T19")]["factor"]
    assert hour == pytest.approx(1.08, rel=0.02)
    # the zoo's factor is the reference's fastest pass on the estimates' scale: 2.06 / 2.0
    assert drift.factor(got, zoo) / got[("dev-a", "20261127T19")]["factor"] == pytest.approx(1.03, rel=0.02)
    # a sampled record of the same hour keeps the hour's factor
    sampled = next(r for r in recs if r["_sealed_at"].startswith("20261207"))
    assert drift.factor(got, sampled) == got[("dev-a", "20261207T15")]["factor"]


def test_records_take_their_own_groups_reference_factor_within_an_hour():
    # the host's speed moves from one 2-minute group to the next; each group measured the reference
    speeds = {"20261128T0100": 0.85, "20261128T0102": 1.2, "20261128T0104": 0.95, "20261128T0106": 1.05,
              "20261128T0200": 1.1, "20261128T0202": 0.9, "20261128T0204": 1.25, "20261128T0206": 0.8}
    rng = np.random.default_rng(3)
    recs = []
    for stamp, g in speeds.items():
        group = _corpus({stamp + "59": g}, n_per_window=60, noise=0.02, seed=int(stamp[-4:]))
        for r in group:
            r["measurement"]["measured_at"] = stamp + "59"
            r["measurement"]["drift_reference"] = {
                "set": "s1-v1", "labels_ms": {"a": 2.0 * g * math.exp(rng.normal(0, 0.01)), "b": 5.0 * g}}
        recs += group
    got = drift.factors(recs, per_group=True)
    a, b = (next(r for r in recs if r["measurement"]["measured_at"].startswith(s)) for s in ("20261128T0100",
                                                                                               "20261128T0102"))
    assert drift.factor(got, a) / drift.factor(got, b) == pytest.approx(0.85 / 1.2, rel=0.03)
    assert got[("dev-a", drift.GROUP + a["measurement"]["measured_at"])]["from"] == "group"

    def spread(fs):  # sd of log(label / factor) around the truth, over all records
        base = [math.log(r["measurement"]["median_ms"] / drift.factor(fs, r)) for r in recs]
        truth = [math.log(r["measurement"]["median_ms"] / speeds[r["measurement"]["measured_at"][:13]])
                 for r in recs]
        return float(np.std(np.subtract(base, truth)))

    assert spread(got) < 0.03 < spread(drift.factors(recs))


def test_a_new_space_measured_alone_gets_the_reference_factor_not_its_own_mean():
    """Session 23: a new search space measured in hours of its own, on a host ~14% slower than when
    the device's other spaces were measured. Its regression makes its residuals average ~0 in those
    hours, which read as factor 1.0; they are not linked to the other hours by any space, so they get
    no estimate and take the drift reference's factor on the estimates' scale instead."""
    recs = _corpus({"20261127T190000": 0.95, "20261127T200000": 1.05})
    for r in recs:
        slow = r["_sealed_at"].startswith("20261127T20")
        r["measurement"]["drift_reference"] = {"set": "s1-v1", "labels_ms": {"a": 2.1 if slow else 1.9}}
    rng = np.random.default_rng(5)
    for i, window in enumerate(["20261207T140000"] * 100 + ["20261207T150000"] * 100):  # dwsep, both hours
        macs = int(rng.uniform(1e6, 1e9))
        recs.append(_record(1000 + i, "dwsep", window, (1.5e-8 * macs + 0.05) * 1.14 * math.exp(rng.normal(0, 0.05)),
                            macs, ref={"a": 2.0 * 1.14}))
    est = drift.estimate(recs)
    assert ("dev-a", "20261207T14") not in est and ("dev-a", "20261207T15") not in est
    assert est[("dev-a", "20261127T20")]["factor"] > est[("dev-a", "20261127T19")]["factor"]
    got = drift.factors(recs)
    for w in ("20261207T14", "20261207T15"):
        assert got[("dev-a", w)]["from"] == "reference"
        assert got[("dev-a", w)]["factor"] == pytest.approx(1.14, rel=0.03)
    # an older space measured in one of those hours too links them to the rest: the joint fit carries
    # the speed it shows there to the other hour through the new space (factors relative to each other)
    linked = recs + [_record(2000 + i, "vit", "20261207T150000", (3e-8 * m + 0.05) * 1.14, m)
                     for i, m in enumerate(rng.integers(10**6, 10**9, 90).tolist())]
    est = drift.estimate(linked)
    old = est[("dev-a", "20261127T19")]["factor"]
    assert est[("dev-a", "20261207T15")]["factor"] / old == pytest.approx(1.14 / 0.95, rel=0.04)
    assert est[("dev-a", "20261207T14")]["factor"] / old == pytest.approx(1.14 / 0.95, rel=0.04)
    assert drift.connected_windows([("a", "w1"), ("a", "w2"), ("b", "w3")]) == {"w1", "w2"}
    assert drift.connected_windows([]) == set()
