"""Back this process's large anonymous memory with transparent huge pages.

``collapse()`` asks the kernel (``madvise(MADV_COLLAPSE)``, Linux >= 6.1) to move every
private, writable anonymous mapping of at least 2 MiB into 2 MiB pages right away,
whatever the system's THP mode (``madvise`` on many distributions, where a runtime's
allocations otherwise stay on 4 KiB pages). Elsewhere it does nothing and says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)

MADV_COLLAPSE = 25
HUGE = 2 * 1024 * 1024


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    libc.madvise.restype = ctypes.c_int
    return libc


def _anonymous_ranges(min_bytes: int) -> list[tuple[int, int]]:
    """2 MiB-aligned [start, end) ranges inside private writable anonymous mappings."""
    out = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        parts = line.split()
        path = parts[5] if len(parts) > 5 else ""
        if (path and path != "[heap]") or not parts[1].startswith("rw") or parts[1][3] != "p":
            continue
        start, end = (int(x, 16) for x in parts[0].split("-"))
        lo, hi = -(-start // HUGE) * HUGE, end // HUGE * HUGE
        if hi - lo >= max(min_bytes, HUGE):
            out.append((lo, hi))
    return out


def collapse(min_bytes: int = HUGE) -> dict[str, int | str]:
    """Collapse the process's large anonymous ranges into huge pages; returns what was done
    (``bytes`` collapsed, ``failed`` ranges, or ``unsupported`` with the reason)."""
    libc = _libc()
    if libc is None:
        return {"unsupported": "not Linux"}
    done, errors = 0, []
    for lo, hi in _anonymous_ranges(min_bytes):
        if libc.madvise(lo, hi - lo, MADV_COLLAPSE) == 0:
            done += hi - lo
        else:
            errors.append(ctypes.get_errno())
    if not done and errors and all(e == 22 for e in errors):  # EINVAL everywhere: an older kernel
        return {"unsupported": "madvise(MADV_COLLAPSE) not supported by this kernel"}
    return {"bytes": done, "failed": len(errors)}
