"""Content-addressed model files: ``<data_dir>/graphs/<sha256[:2]>/<sha256>``.

Writes go to a temporary file in the same directory and are renamed into place, so
a file at its final path is always complete; rewriting the same content is a no-op."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class GraphStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, sha256: str, data: bytes) -> Path:
        final = self.path(sha256)
        if final.exists() and final.stat().st_size == len(data):
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return final

    def get(self, sha256: str) -> bytes | None:
        path = self.path(sha256)
        return path.read_bytes() if path.exists() else None
