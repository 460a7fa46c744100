"""Request bodies of the routes that take big JSON documents (predictions: IR documents,
about 67 KB per NAS-Bench-201 graph).

* ``Content-Encoding: gzip`` is accepted: the body is inflated up to ``max_upload_bytes``
  (413 past it, 400 for a broken stream); other encodings are 415.
* The cyclic garbage collector is paused (see ``gc_paused``) from parsing until the handler
  has answered, and the parsed document is dropped before it resumes, so the collector never
  walks it: a 250-graph batch (17 MB) took 0.81 s to parse with the collector walking the new
  objects, 0.16 s without. Pausing only around the parse still paid one walk of the whole
  document at the next collection after it (0.25 s of 0.75 s per 250-graph batch, 2026-11-28).
* JSON is parsed by orjson (~1.5x faster than ``json`` here); a body orjson refuses (lone
  surrogates, NaN, numbers past the float range) is parsed again by ``json``, so what is
  accepted and every error message are ``json``'s. One difference: an integer past 64 bits
  is read as the nearest float (no real graph holds one; IR fields are read like ``int()``).

Use as ``APIRouter(route_class=JSONBodyRoute)``.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from predictor.graph.ir import gc_paused


def loads(body: bytes) -> Any:
    """``json.loads(body)``, by orjson where it can read the document."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


class JSONBodyRequest(Request):
    async def body(self) -> bytes:
        if not hasattr(self, "_inflated"):
            raw = await super().body()
            self._inflated = inflate(raw, self.headers.get("content-encoding"), _limit(self))
        return self._inflated

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            with gc_paused():
                self._json = loads(body)
        return self._json

    def release(self) -> None:
        """Drop the parsed document (and the inflated body)."""
        self.__dict__.pop("_json", None)
        self.__dict__.pop("_inflated", None)


class JSONBodyRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_json_body(request: Request) -> Response:
            req = JSONBodyRequest(request.scope, request.receive)
            with gc_paused():
                try:
                    return await handler(req)
                finally:
                    req.release()  # freed by reference counting while the collector is off

        return with_json_body


class OrjsonResponse(Response):
    """A JSON response written by orjson (a 250-graph batch answer: ~5% of the request's time with
    ``json``); a float that is not finite is written as null, where ``JSONResponse`` would fail."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def inflate(raw: bytes, encoding: str | None, limit: int) -> bytes:
    """``raw`` decoded per its ``Content-Encoding`` (none, identity or gzip), at most ``limit`` bytes."""
    name = (encoding or "identity").strip().lower()
    if name == "identity":
        return raw
    if name != "gzip":
        raise HTTPException(415, f"Content-Encoding {encoding!r} is not supported; send gzip or none")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise HTTPException(400, f"the gzip body cannot be inflated: {exc}") from exc
    if len(out) > limit:
        raise HTTPException(413, f"the inflated request body is larger than the limit of {limit} bytes")
    if not inflater.eof or inflater.unused_data:
        raise HTTPException(400, "the gzip body is truncated or has data after its end")
    return out


def _limit(request: Request) -> int:
    settings = getattr(request.app.state, "settings", None)
    return int(getattr(settings, "max_upload_bytes", 64 * 1024 * 1024))
