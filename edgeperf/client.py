"""A small HTTP client for an edgeperf server, fit for a NAS loop.

``predict`` parses a model locally (``predictor.frontends.load_model``) and sends only
its structure, the IR document (no weights), so a 100 MB model costs a few hundred KB
on the wire::

    from edgeperf.client import EdgePerfClient

    with EdgePerfClient("http://127.0.0.1:8000") as api:
        answer = api.predict("resnet50.onnx", device="pi5-ort-t1")
        answer["predictions"]["pi5-ort-t1"]["latency"]["value"]   # ms

Every failure the server reports raises :class:`EdgePerfError` carrying its
``{"error", "detail"}`` body."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson

ModelLike = str | os.PathLike | bytes | dict | Any  # a path, file bytes, an IR document or an IR Graph


class EdgePerfError(Exception):
    """The server answered with an error (``status``, ``error`` code, ``detail``), or could not be reached
    (``status`` 0, ``error`` "connection_error")."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(f"{status} {error}: {detail}" if status else f"{error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail


#: Prediction bodies of at least this many bytes are sent gzip-compressed (level 1), which the server
#: inflates: IR documents shrink about 12x (a NAS-Bench-201 graph: 60 KB -> 5 KB) for about 0.3 ms of
#: CPU each, so a batch to a remote server is not held up by the network.
GZIP_MIN_BYTES = 256 * 1024


def encode_json(body: Any) -> bytes:
    """Compact JSON bytes of a request body: orjson (a 250-graph batch of IR documents: 0.12 ms per
    graph, where ``json.dumps``, what httpx's ``json=`` uses, took 2 ms), else ``json`` for what
    orjson refuses (non-string keys, integers past 64 bits). orjson writes NaN and infinities as
    null; an IR document from ``load_model`` holds none."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body, separators=(",", ":")).encode()


def encode_body(body: Any, gzip_min_bytes: int | None = GZIP_MIN_BYTES) -> tuple[bytes, dict[str, str]]:
    """A JSON request body as sent: :func:`encode_json`, gzip-compressed (level 1) when it is at
    least ``gzip_min_bytes`` long (None: never, 0: always), and its headers."""
    data = encode_json(body)
    headers = {"content-type": "application/json"}
    if gzip_min_bytes is not None and len(data) >= gzip_min_bytes:
        data = gzip.compress(data, 1)
        headers["content-encoding"] = "gzip"
    return data, headers


def to_ir_document(model: ModelLike, input_shapes: dict[str, list[int]] | None = None) -> dict[str, Any]:
    """An IR document from a model file path, file bytes, an IR ``Graph`` or a document."""
    if isinstance(model, dict):
        return model
    if hasattr(model, "to_dict") and hasattr(model, "nodes"):
        return model.to_dict()
    from predictor.frontends import load_model

    if isinstance(model, (bytes, bytearray)):
        return load_model(bytes(model), input_shapes=input_shapes).to_dict()
    path = Path(model)
    return load_model(path.read_bytes(), filename=path.name, input_shapes=input_shapes).to_dict()


def to_columns(model: ModelLike, input_shapes: dict[str, list[int]] | None = None,
               names: bool = False) -> dict[str, Any]:
    """The columns form of a model (:mod:`predictor.columns`): what the predictor reads of its IR,
    as packed arrays (``names``: with node names)."""
    from predictor.columns import to_columns as columns_of

    return columns_of(to_ir_document(model, input_shapes), names=names)


def _item(doc: dict[str, Any], encoding: str) -> dict[str, Any]:
    if encoding == "ir":
        return {"ir": doc}
    from predictor.columns import to_columns as columns_of
    from predictor.graph.ir import IRError

    try:
        return {"columns": columns_of(doc)}
    except IRError:
        return {"ir": doc}  # the server answers this item with the document's own error


def _devices(device: str | None, devices: Sequence[str] | str | None) -> list[str] | str:
    if device is not None and devices is not None:
        raise ValueError("give device or devices, not both")
    if device is not None:
        return [device]
    if devices is None:
        raise ValueError("give device=NAME or devices=[NAMES] (or devices='all')")
    return devices if isinstance(devices, str) else list(devices)


class EdgePerfClient:
    """``EdgePerfClient(base_url, token=None)``; usable as a context manager."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        timeout: float = 120.0,
        transport: httpx.BaseTransport | None = None,
        gzip_min_bytes: int | None = GZIP_MIN_BYTES,
    ) -> None:
        """``gzip_min_bytes``: prediction bodies from this size on are gzip-compressed (None: never)."""
        self.gzip_min_bytes = gzip_min_bytes
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> EdgePerfClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- requests -----------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """One request; ``body``: a JSON body, sent as :func:`encode_body` makes it."""
        if body is not None:
            data, headers = encode_body(body, self.gzip_min_bytes)
            kwargs.update(content=data, headers=headers)
        try:
            resp = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise EdgePerfError(0, "connection_error", f"{self._http.base_url}{path}: {exc}") from exc
        if resp.status_code >= 400:
            try:
                body = resp.json()
                error, detail = str(body["error"]), str(body["detail"])
            except (ValueError, KeyError, TypeError):
                error, detail = "http_error", resp.text[:500] or resp.reason_phrase
            raise EdgePerfError(resp.status_code, error, detail)
        return resp.json()

    def predict(
        self,
        model: ModelLike,
        device: str | None = None,
        devices: Sequence[str] | str | None = None,
        input_shapes: dict[str, list[int]] | None = None,
        targets: Sequence[str] | None = None,
        breakdown: bool = False,
    ) -> dict[str, Any]:
        """Predict one model: the IR is built here and only its structure is sent.
        An ``int`` model is the id of a graph already on the server."""
        body: dict[str, Any] = {"devices": _devices(device, devices), "breakdown": breakdown}
        if isinstance(model, int):
            body["graph_id"] = model
        else:
            body["ir"] = to_ir_document(model, input_shapes)
        if targets:
            body["targets"] = list(targets)
        return self._call("POST", "/v1/predictions", body)

    def predict_batch(
        self,
        models: Iterable[ModelLike],
        device: str | None = None,
        devices: Sequence[str] | str | None = None,
        targets: Sequence[str] | None = None,
        input_shapes: dict[str, list[int]] | None = None,
        encoding: str = "columns",
    ) -> dict[str, Any]:
        """Many models in one call (ints are stored graph ids). The answer's ``results`` are in
        order; an item that failed carries ``error`` instead of ``predictions``.

        ``encoding``: how each model's structure is sent: ``"columns"`` (:func:`to_columns`: what the
        predictor reads, packed; the server reads a NAS-Bench-201 graph about 5x faster than its IR
        document) or ``"ir"`` (the IR document). A model the columns form cannot be made from (a
        malformed IR document) is sent as its IR document, so its error comes back in its place."""
        if encoding not in ("columns", "ir"):
            raise ValueError(f'encoding must be "columns" or "ir", got {encoding!r}')
        items = [
            {"graph_id": m} if isinstance(m, int) else _item(to_ir_document(m, input_shapes), encoding)
            for m in models
        ]
        body: dict[str, Any] = {"items": items, "devices": _devices(device, devices)}
        if targets:
            body["targets"] = list(targets)
        return self._call("POST", "/v1/predictions/batch", body)

    def upload_graph(
        self, path: str | os.PathLike, input_shapes: dict[str, list[int]] | None = None
    ) -> dict[str, Any]:
        """Upload a model file (weights included) so it can be referred to by id."""
        path = Path(path)
        data = {"input_shapes": json.dumps(input_shapes)} if input_shapes else {}
        with path.open("rb") as fh:
            return self._call("POST", "/v1/graphs", files={"file": (path.name, fh)}, data=data)

    def devices(self) -> list[dict[str, Any]]:
        """Every registered device (all pages)."""
        out: list[dict[str, Any]] = []
        while True:
            page = self._call("GET", "/v1/devices", params={"limit": 100, "offset": len(out)})
            out.extend(page["items"])
            if not page["items"] or len(out) >= page["total"]:
                return out
