"""What the agent sees of its machine.

``describe()`` reads only files and the standard library (plus the runtime's version from
package metadata, without importing the runtime), so it is cheap and works on a phone
under Termux, a Raspberry Pi, a Jetson or a PC. Unreadable facts are ``None``.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

_RUNTIME_PACKAGES = {"onnxruntime": ("onnxruntime", "onnxruntime-gpu"), "litert": ("ai-edge-litert",)}
_DEFAULT_DELEGATES = {"onnxruntime": "CPUExecutionProvider", "litert": "xnnpack"}


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(errors="replace").strip().strip("\x00")
    except OSError:
        return None


def _cpuinfo() -> dict[str, str]:
    """First value of each key in /proc/cpuinfo (plus whole-file keys such as ARM 'Hardware')."""
    info: dict[str, str] = {}
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and key and key not in info:
            info[key] = value.strip()
    return info


def cpu_model(info: dict[str, str] | None = None) -> str:
    """Human CPU name: x86 'model name'; on ARM (generic 'model name's such as 'ARMv7
    Processor', or 'Hardware: BCM2835' on every Raspberry Pi) the board model; else platform."""
    info = _cpuinfo() if info is None else info
    if "CPU part" in info:
        board = info.get("Model") or _read("/proc/device-tree/model")
        if board:
            return re.sub(r"\s+Rev\s+[\w.]+$", "", board)
    for key in ("model name", "Hardware", "Model", "cpu model", "Processor"):
        if info.get(key):
            return info[key]
    return _read("/proc/device-tree/model") or platform.processor() or platform.machine() or "unknown"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def cpu_slug(info: dict[str, str] | None = None) -> str:
    """Stable slug of the CPU model. A generic name without digits (virtual machines often
    report just 'AMD EPYC') gets the vendor family/model numbers appended, so different
    CPU generations do not share a device."""
    info = _cpuinfo() if info is None else info
    name = re.sub(r"\((r|tm)\)|cpu|@.*$", " ", cpu_model(info), flags=re.IGNORECASE)
    slug = _slug(name)
    if not re.search(r"\d", slug) and info.get("cpu family") and info.get("model"):
        slug += f"-f{info['cpu family']}-m{info['model']}"
    if info.get("CPU part"):
        slug += f"-{_slug(info['CPU part'])}"
    return slug


def _meminfo_mb() -> float | None:
    text = _read("/proc/meminfo") or ""
    match = re.search(r"^MemTotal:\s+(\d+)\s+kB", text, flags=re.MULTILINE)
    return round(int(match.group(1)) / 1024, 1) if match else None


def _cpufreq() -> dict[str, Any]:
    base = "/sys/devices/system/cpu/cpu0/cpufreq"
    maxf = _read(f"{base}/cpuinfo_max_freq")
    return {
        "governor": _read(f"{base}/scaling_governor"),
        "max_freq_mhz": round(int(maxf) / 1000) if maxf and maxf.isdigit() else None,
    }


def runtime_version(runtime: str) -> str | None:
    for package in _RUNTIME_PACKAGES.get(runtime, (runtime,)):
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return None


def device_key(runtime: str, threads: int, delegate: str | None = None, info: dict[str, str] | None = None) -> str:
    """``cpu-<cpu-model-slug>-<runtime>-t<threads>`` (plus the delegate when not the default)."""
    key = f"cpu-{cpu_slug(info)}-{runtime}-t{threads}"
    if delegate and delegate != _DEFAULT_DELEGATES.get(runtime):
        key += f"-{_slug(delegate)}"
    return key


def describe(runtime: str = "onnxruntime", threads: int = 1, delegate: str | None = None) -> dict[str, Any]:
    """The machine as the agent sees it, with a stable ``device_key``."""
    info = _cpuinfo()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "device_key": device_key(runtime, threads, delegate, info),
        "cpu_model": cpu_model(info),
        "cpu_vendor": info.get("vendor_id") or info.get("CPU implementer"),
        "cpu_family": info.get("cpu family"),
        "cpu_model_id": info.get("model") or info.get("CPU part"),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        **_cpufreq(),
        "memory_mb": _meminfo_mb(),
        "board": _read("/proc/device-tree/model"),
        "arch": platform.machine(),
        "os": platform.system(),
        "kernel": platform.release(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "runtime": runtime,
        "runtime_version": runtime_version(runtime),
        "threads": threads,
        "delegate": delegate or _DEFAULT_DELEGATES.get(runtime),
    }


def cpu_times() -> dict[int, tuple[int, int]] | None:
    """Per CPU: (busy, total) clock ticks since boot from /proc/stat; None where unreadable
    (not Linux, or a phone that hides it)."""
    text = _read("/proc/stat")
    if not text:
        return None
    out: dict[int, tuple[int, int]] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not (name.startswith("cpu") and name[3:].isdigit()):
            continue
        ticks = [int(v) for v in rest.split()[:8]]  # user nice system idle iowait irq softirq steal
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
        out[int(name[3:])] = (sum(ticks) - idle, sum(ticks))
    return out or None


def cpu_busy(before: dict[int, tuple[int, int]] | None, after: dict[int, tuple[int, int]] | None) -> dict[str, float] | None:
    """Busy fraction of each CPU between two :func:`cpu_times` snapshots (keys are CPU numbers
    as strings, JSON-ready); None when either snapshot is missing or no time passed."""
    if not before or not after:
        return None
    out: dict[str, float] = {}
    for cpu, (busy1, total1) in after.items():
        busy0, total0 = before.get(cpu, (busy1, total1))
        if total1 > total0:
            out[str(cpu)] = round((busy1 - busy0) / (total1 - total0), 3)
    return out or None
