"""One error type and one body shape for every failure: ``{"error": code, "detail": message}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from predictor.graph.ir import IRError

log = logging.getLogger(__name__)

#: IRError code -> HTTP status (anything else: 422).
IR_STATUS = {"too_large": 413, "timeout": 422, "unknown_format": 415}

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "unavailable",
}


class ErrorBody(BaseModel):
    error: str
    detail: str


class ServiceError(Exception):
    """An expected failure that becomes a JSON error response."""

    def __init__(
        self,
        message: str,
        status_code: int = 400,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code or HTTP_CODES.get(status_code, "error")
        self.headers = headers


class NotFound(ServiceError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found", 404, "not_found")


def error_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail, **extra}, status_code=status, headers=headers)


def _format_validation(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    errors = []
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()))
        msg = str(err.get("msg", "invalid"))
        errors.append({"loc": loc, "msg": msg})
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts) or "invalid request", errors


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service(_: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc.status_code, exc.code, exc.message, exc.headers)

    @app.exception_handler(IRError)
    async def _ir(_: Request, exc: IRError) -> JSONResponse:
        return error_response(IR_STATUS.get(exc.code, 422), exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail, errors = _format_validation(exc)
        return error_response(422, "validation_error", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(DataError)
    @app.exception_handler(OverflowError)
    @app.exception_handler(UnicodeEncodeError)
    async def _unstorable(request: Request, exc: Exception) -> JSONResponse:
        # Safety net: input that passed validation but that the database cannot store
        # (a number out of the column's range, a NUL byte); the transaction was rolled back.
        log.warning("request.unstorable", extra={"path": request.url.path, "error": type(exc).__name__})
        return error_response(
            422, "invalid_data", "a value in the request cannot be stored (out of range or invalid text)"
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request.unhandled", extra={"path": request.url.path})
        return error_response(500, "internal_error", "internal server error")


#: For ``responses=`` in route declarations so OpenAPI documents the error shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429)
}
