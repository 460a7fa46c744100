"""Runtime backends. See :mod:`agent.backends.base` for the registry."""

from agent.backends.base import Backend, BackendError, Session, available, get_backend

__all__ = ["Backend", "BackendError", "Session", "available", "get_backend"]
