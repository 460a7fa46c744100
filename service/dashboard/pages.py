"""HTML pages and static assets of the dashboard under ``/dashboard``.

Every page is the same small HTML shell naming the page; the page's ES module reads the
JSON API and draws the tables and charts in the browser. Assets are served only from
``static/`` (path checked), with a Content-Security-Policy that allows this origin only."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from service.errors import NotFound

STATIC_DIR = (Path(__file__).parent / "static").resolve()
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".md": "text/plain", ".svg": "image/svg+xml"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}

router = APIRouter(prefix="/dashboard", include_in_schema=False)


@cache
def _shell() -> str:
    return (STATIC_DIR / "shell.html").read_text(encoding="utf-8")


def _page(name: str, title: str) -> HTMLResponse:
    html = _shell().replace("{{page}}", name).replace("{{title}}", title)
    return HTMLResponse(html, headers=HEADERS)


@router.get("")
def overview_page() -> HTMLResponse:
    return _page("overview", "Devices")


@router.get("/devices/{device_id}")
def device_page(device_id: int) -> HTMLResponse:
    return _page("device", "Device")


@router.get("/graphs")
def graphs_page() -> HTMLResponse:
    return _page("graphs", "Graphs")


@router.get("/graphs/{graph_id}")
def graph_page(graph_id: int) -> HTMLResponse:
    return _page("graph", "Graph")


@router.get("/predictors")
def predictors_page() -> HTMLResponse:
    return _page("predictors", "Predictors")


@router.get("/jobs")
def jobs_page() -> HTMLResponse:
    return _page("jobs", "Jobs")


@router.get("/static/{path:path}")
def static_file(path: str) -> FileResponse:
    """A file under ``static/`` with a known type; anything else is 404."""
    target = (STATIC_DIR / path).resolve()
    media = MEDIA_TYPES.get(target.suffix)
    if media is None or not target.is_relative_to(STATIC_DIR) or not target.is_file():
        raise NotFound(f"dashboard asset {path!r}")
    return FileResponse(target, media_type=media, headers=HEADERS)
