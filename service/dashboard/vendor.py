"""The charting library the dashboard serves: Chart.js, fetched at build time from the npm
registry with ``npm pack``, pinned to one version and checked against the registry's
SHA-512 integrity hash before anything is extracted.

Chart.js 4.5.1 is MIT-licensed (its ``LICENSE.md`` is installed next to the file) and
is one self-contained UMD file (~200 KB minified, no dependencies). It is not committed
to git: ``scripts/_setup.sh`` runs ``python -m service.dashboard.vendor`` when the file
is missing, and the service serves it from ``static/vendor/``, so the dashboard needs no
CDN and works offline.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

PACKAGE = "chart.js"
VERSION = "4.5.1"
#: ``npm view chart.js@4.5.1 dist.integrity``: SHA-512 of the published tarball.
INTEGRITY = "sha512-GIjfiT9dbmHRiYi6Nl2yFCq7kkwdkp1W/lp2J99rX0yo9tgJGn3lKQATztIjb5tVtevcBtIdICNWqlq5+E8/Pw=="
#: tarball member -> installed file name
FILES = {"package/dist/chart.umd.min.js": "chart.umd.min.js", "package/LICENSE.md": "chart.js-LICENSE.md"}
#: SHA-256 of each installed file (what the service serves), checked after extraction.
FILE_SHA256 = {
    "chart.umd.min.js": "48444a82d4edcb5bec0f1965faacdde18d9c17db3063d042abada2f705c9f54a",
    "chart.js-LICENSE.md": "41a84aa2caba645f966a18d9c2056b73e6d3a81d80bc0046bc0011a2634d4cce",
}
VENDOR_DIR = Path(__file__).parent / "static" / "vendor"
CHART_JS = VENDOR_DIR / "chart.umd.min.js"


class VendorError(RuntimeError):
    """The library could not be fetched, or the tarball failed the integrity check."""


def installed(directory: Path = VENDOR_DIR) -> bool:
    """Every file is there with its pinned SHA-256."""
    return all(
        (directory / name).is_file() and hashlib.sha256((directory / name).read_bytes()).hexdigest() == digest
        for name, digest in FILE_SHA256.items()
    )


def _integrity(path: Path) -> str:
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode()


def _npm_pack(workdir: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise VendorError("npm is not installed: install Node.js/npm (apt-get install -y npm) and rerun")
    spec = f"{PACKAGE}@{VERSION}"
    done = subprocess.run(
        [npm, "pack", "--silent", "--pack-destination", str(workdir), spec],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise VendorError(f"npm pack {spec} failed: {done.stderr.strip()[-2000:]}")
    tarballs = list(workdir.glob("*.tgz"))
    if len(tarballs) != 1:
        raise VendorError(f"npm pack {spec} produced {len(tarballs)} tarballs")
    return tarballs[0]


def _extract(tarball: Path, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball, "r:gz") as tar:
        for member, name in FILES.items():
            source = tar.extractfile(member)
            if source is None:
                raise VendorError(f"{tarball.name} has no file {member}")
            data = source.read()
            if hashlib.sha256(data).hexdigest() != FILE_SHA256[name]:
                raise VendorError(f"{member} in {tarball.name} does not have the pinned SHA-256")
            tmp = directory / (name + ".part")
            tmp.write_bytes(data)
            tmp.replace(directory / name)


def install(directory: Path = VENDOR_DIR, *, force: bool = False) -> Path:
    """Fetch, verify and install the pinned Chart.js; returns the installed script's path."""
    if installed(directory) and not force:
        return directory / FILES["package/dist/chart.umd.min.js"]
    with tempfile.TemporaryDirectory() as tmp:
        tarball = _npm_pack(Path(tmp))
        got = _integrity(tarball)
        if got != INTEGRITY:
            raise VendorError(f"{tarball.name}: integrity {got} != pinned {INTEGRITY}")
        _extract(tarball, directory)
    log.info("dashboard.vendor.installed", extra={"package": PACKAGE, "version": VERSION})
    return directory / FILES["package/dist/chart.umd.min.js"]


def main() -> int:
    try:
        path = install(force="--force" in sys.argv[1:])
    except VendorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{PACKAGE} {VERSION}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
