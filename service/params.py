"""Shared request-parameter types: database ids within the integer column range, and
input models that refuse text no database can store (NUL bytes, lone surrogates)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel, model_validator

MAX_ID = 2**31 - 1  # PostgreSQL integer

IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def check_text(value: Any, where: str = "") -> None:
    """Raise ValueError if any string in a JSON-like value cannot be stored as text."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{where or 'text'} contains a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"{where or 'text'} is not valid Unicode (lone surrogate)") from exc
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, where)
            check_text(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list | tuple):
        for item in value:
            check_text(item, where)


class InputModel(BaseModel):
    """Base of request bodies: every string, nested ones included, must be storable."""

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        check_text(data)
        return data
