"""Bearer-token auth helpers, reusable by every endpoint area.

* Admin requests carry ``Authorization: Bearer <EDGEPERF_ADMIN_KEY>``.
* A device's agent carries ``Authorization: Bearer <device id>.<secret>``; only the
  SHA-256 of the secret is stored, and it is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.db import SessionDep
from service.errors import ServiceError
from service.models import Device
from service.ratelimit import AuthFailureLimiter

_bearer = HTTPBearer(auto_error=False, description="admin key or device token")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]

_UNAUTHORIZED_HEADERS = {"WWW-Authenticate": "Bearer"}


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_device_token(device_id: int) -> tuple[str, str]:
    """A fresh token for a device, and the hash to store. The token is shown once."""
    secret = secrets.token_urlsafe(32)
    return f"{device_id}.{secret}", hash_secret(secret)


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _limiter(request: Request) -> AuthFailureLimiter:
    return request.app.state.auth_limiter


def _refuse(request: Request, message: str) -> ServiceError:
    _limiter(request).record_failure(_client_address(request))
    return ServiceError(message, 401, "unauthorized", _UNAUTHORIZED_HEADERS)


def require_admin(request: Request, credentials: Credentials) -> None:
    """Dependency: the request carries the admin key (failures are rate-limited per address)."""
    _limiter(request).check(_client_address(request))
    expected: str = request.app.state.settings.admin_key
    if credentials is None or not credentials.credentials:
        raise _refuse(request, "missing bearer token")
    if not hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise _refuse(request, "invalid admin key")


def require_device_token(request: Request, session: SessionDep, credentials: Credentials) -> Device:
    """Dependency: the request carries a device's agent token; returns that device."""
    _limiter(request).check(_client_address(request))
    if credentials is None or not credentials.credentials:
        raise _refuse(request, "missing bearer token")
    device_part, _, secret = credentials.credentials.partition(".")
    valid_id = device_part.isascii() and device_part.isdigit() and len(device_part) <= 9
    device = session.get(Device, int(device_part)) if valid_id and secret else None
    stored = device.token_hash if device is not None else hash_secret("")
    if not hmac.compare_digest(hash_secret(secret), stored) or device is None:
        raise _refuse(request, "invalid device token")
    return device


AdminDep = Depends(require_admin)
DeviceDep = Annotated[Device, Depends(require_device_token)]
