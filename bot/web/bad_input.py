"""Reading the API's JSON bodies and refusing bad input with one clear line.

Every route reads its fields through these, so a wrong type or a missing field is a
`{"error": ...}` naming the field and what to send (400), never a traceback; `ApiError`
carries any other status (404 unknown id, 409 busy, 413 too large, 422 refused).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


class ApiError(Exception):
    """A refusal the API answers as `{"error": message[, "key": key]}` with `status`."""

    def __init__(self, status: int, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.key = key

    def response(self) -> web.Response:
        body: dict[str, Any] = {"error": self.message}
        if self.key is not None:
            body["key"] = self.key
        return web.json_response(body, status=self.status)


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body (an empty body counts as {})."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, 'send a JSON object, e.g. {"text": "help"}')
    return body


def _wrong(name: str, expected: str, value: Any) -> ApiError:
    return ApiError(400, f"{name} must be {expected}, got {json.dumps(value)[:80]}", key=name)


def text_field(body: dict[str, Any], name: str, *, required: bool = True) -> str:
    """A string field, stripped; required ones must not be blank."""
    value = body.get(name)
    if value is None:
        if not required:
            return ""
        raise ApiError(400, f'{name} is missing; send {{"{name}": "…"}}', key=name)
    if not isinstance(value, str):
        raise _wrong(name, "a string", value)
    if required and not value.strip():
        raise ApiError(400, f"{name} is empty; send the {name} to use", key=name)
    return value.strip()


def int_field(
    body: dict[str, Any], name: str, *, minimum: int = 0, maximum: int | None = None
) -> int | None:
    """An optional whole number within bounds (None when absent)."""
    value = body.get(name)
    if value is None:
        return None
    upper = f" and at most {maximum}" if maximum is not None else ""
    expected = f"a whole number of at least {minimum}{upper}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong(name, expected, value)
    if value < minimum or (maximum is not None and value > maximum):
        raise _wrong(name, expected, value)
    return value


def bool_field(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise _wrong(name, "true or false", value)
    return value


def strings_field(body: dict[str, Any], name: str) -> tuple[str, ...]:
    """An optional list of strings (blank ones dropped)."""
    value = body.get(name)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _wrong(name, "a list of strings", value)
    return tuple(item.strip() for item in value if item.strip())


def query_int(request: web.Request, name: str, default: int, *, maximum: int) -> int:
    """A whole-number query parameter within 0..maximum."""
    raw = request.query.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or int(raw) > maximum:
        raise ApiError(400, f"{name} must be a whole number 0..{maximum}, got {raw!r}", key=name)
    return int(raw)
