"""On-disk queue of results the server has not acknowledged yet.

Each entry is one JSON file named by its client id, written atomically (temporary file,
fsync, rename), so an entry is either complete or absent even if the agent is killed.
An entry is deleted only after the server acknowledged it; entries survive restarts and
are sent again (the server ignores duplicates by client id).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_SAFE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


class Outbox:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, client_id: str) -> Path:
        if not _SAFE.match(client_id):
            raise ValueError(f"client id {client_id!r} is not a safe file name")
        return self.root / f"{client_id}.json"

    def put(self, entry: dict[str, Any]) -> None:
        """Store ``entry`` (must carry ``client_id``) durably."""
        path = self._path(entry["client_id"])
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as fh:
            json.dump(entry, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        log.debug("outbox.put", extra={"client_id": entry["client_id"]})

    def remove(self, client_id: str) -> None:
        self._path(client_id).unlink(missing_ok=True)

    def set_aside(self, client_id: str) -> None:
        """Keep an entry the server refused for inspection (``<id>.refused``); not resent."""
        path = self._path(client_id)
        if path.exists():
            path.rename(path.with_suffix(".refused"))

    def pending(self) -> Iterator[dict[str, Any]]:
        """Entries oldest first; unreadable files are moved aside, not dropped."""
        for path in sorted(self.root.glob("*.json"), key=lambda p: p.stat().st_mtime_ns):
            try:
                yield json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                log.error("outbox.corrupt", extra={"file": str(path), "error": str(exc)})
                path.rename(path.with_suffix(".corrupt"))

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*.json"))
