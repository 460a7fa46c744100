"""Energy sensors: Linux powercap/RAPL, Jetson INA3221 rails, Android battery.

``find_meter()`` returns a meter for the first readable sensor, or ``None``; no sensor
means no energy figure, never an invented one. A meter's ``start()``/``stop()`` bracket a
period and ``stop()`` returns the energy in millijoules spent by the whole sensor domain
(package, board rail or battery) during it.
"""

from __future__ import annotations

import glob
import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


class RaplMeter:
    """Cumulative package energy counters (µJ) under /sys/class/powercap."""

    name = "rapl"

    def __init__(self, files: list[str], ranges: list[int]) -> None:
        self.files, self.ranges = files, ranges
        self._start: list[int] = []

    def _now(self) -> list[int] | None:
        values = [_read_int(f) for f in self.files]
        return None if any(v is None for v in values) else values  # type: ignore[return-value]

    def start(self) -> None:
        self._start = self._now() or []

    def stop(self) -> float | None:
        end = self._now()
        if end is None or len(end) != len(self._start):
            return None
        total = 0
        for a, b, rng in zip(self._start, end, self.ranges, strict=True):
            total += b - a if b >= a else b + rng - a  # counter wrapped
        return total / 1000.0


class PowerMeter:
    """Instantaneous power sensors (Jetson rails in mW, Android battery µA×µV): the energy
    is the mean of the readings at start and stop times the elapsed time."""

    def __init__(self, name: str, read_mw) -> None:  # type: ignore[no-untyped-def]
        self.name, self._read_mw = name, read_mw
        self._t0 = 0.0
        self._p0: float | None = None

    def start(self) -> None:
        self._t0, self._p0 = time.perf_counter(), self._read_mw()

    def stop(self) -> float | None:
        p1, elapsed = self._read_mw(), time.perf_counter() - self._t0
        if p1 is None or self._p0 is None:
            return None
        return (self._p0 + p1) / 2.0 * elapsed  # mW * s = mJ


def _rapl() -> RaplMeter | None:
    files = sorted(glob.glob("/sys/class/powercap/intel-rapl:[0-9]/energy_uj"))
    files = [f for f in files if _read_int(f) is not None]
    if not files:
        return None
    ranges = [_read_int(f.replace("energy_uj", "max_energy_range_uj")) or 2**32 for f in files]
    return RaplMeter(files, ranges)


def _jetson() -> PowerMeter | None:
    """INA3221 rails: older kernels expose in_power0_input (mW); newer ones hwmon channels
    with in<N>_input (mV) and curr<N>_input (mA)."""
    power = glob.glob("/sys/bus/i2c/drivers/ina3221x/*/iio:device*/in_power0_input")
    if power and _read_int(power[0]) is not None:
        return PowerMeter("jetson_ina3221", lambda: _read_int(power[0]))
    channels = []
    for volt in glob.glob("/sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*/in[1-3]_input"):
        folder, name = volt.rsplit("/", 1)
        curr = f"{folder}/curr{name[2:]}"
        if _read_int(volt) is not None and _read_int(curr) is not None:
            channels.append((volt, curr))
    if not channels:
        return None

    def read_mw() -> float | None:
        total = 0.0
        for volt, curr in channels:
            mv, ma = _read_int(volt), _read_int(curr)
            if mv is None or ma is None:
                return None
            total += mv * ma / 1000.0
        return total

    return PowerMeter("jetson_ina3221", read_mw)


def _android() -> PowerMeter | None:
    base = "/sys/class/power_supply/battery"
    if _read_int(f"{base}/current_now") is None or _read_int(f"{base}/voltage_now") is None:
        return None

    def read_mw() -> float | None:
        ua, uv = _read_int(f"{base}/current_now"), _read_int(f"{base}/voltage_now")
        return None if ua is None or uv is None else abs(ua) * uv / 1e9

    return PowerMeter("android_battery", read_mw)


def find_meter() -> RaplMeter | PowerMeter | None:
    for probe in (_rapl, _jetson, _android):
        meter = probe()
        if meter is not None:
            log.info("energy.sensor", extra={"sensor": meter.name})
            return meter
    return None
