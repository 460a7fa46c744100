"""Headless Debian Chromium driven by playwright (no ``playwright install``: the system
browser at /usr/bin/chromium). Every request the pages make is checked to stay on the
server's origin; anything else is aborted and recorded."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


def unavailable() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        return f"no Chromium at {CHROMIUM} (scripts/_setup.sh installs it with apt-get when run as root)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None


@dataclass
class Watch:
    """What a page did that it should not: console errors, uncaught errors, requests
    off the server's origin."""

    origin: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def route(self, route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or f"{parts.scheme}://{parts.netloc}" == self.origin:
            self.requests.append(url)
            route.continue_()
        else:
            self.foreign_requests.append(url)
            route.abort()

    def clean(self) -> bool:
        return not (self.console_errors or self.page_errors or self.foreign_requests)


@contextmanager
def browser_page(origin: str) -> Iterator[tuple[object, Watch]]:
    from playwright.sync_api import sync_playwright

    watch = Watch(origin)
    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.route("**/*", watch.route)
            page = context.new_page()
            page.on("console", lambda m: watch.console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: watch.page_errors.append(str(e)))
            yield page, watch
        finally:
            browser.close()
