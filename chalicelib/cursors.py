"""Signed, opaque pagination cursors. Pure.

A cursor is ``<payload>.<tag>``, both base64url: the payload is compact JSON,
the tag an HMAC-SHA256 (16 bytes) over a version, a scope and the payload. The
scope (the user of a favorites list, the bucket of a ranking) is inside the MAC
but not in the cursor: a cursor verifies only where it was issued and reveals
nothing about that place. The version keeps the kinds apart, so a favorites
cursor never opens as a ranking cursor.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

# Ours are about 110 characters; anything far longer is not worth decoding.
MAX_CURSOR_LENGTH = 512


class BadCursor(ValueError):
    """Not a cursor this API issued for this scope."""


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _tag(key: bytes, version: bytes, scope: str, payload: bytes) -> bytes:
    message = b"\0".join([version, scope.encode(), payload])
    return hmac.new(key, message, hashlib.sha256).digest()[:16]


def seal(payload: dict[str, Any], *, key: bytes, version: bytes, scope: str) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return f"{_b64encode(raw)}.{_b64encode(_tag(key, version, scope, raw))}"


def unseal(cursor: str, *, key: bytes, version: bytes, scope: str) -> dict[str, Any]:
    """The payload of a cursor sealed with the same key, version and scope; else BadCursor."""
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise BadCursor("too long")
        body, dot, tag = cursor.partition(".")
        raw = _b64decode(body)
        if not dot or not hmac.compare_digest(_b64decode(tag), _tag(key, version, scope, raw)):
            raise BadCursor("signature does not match")
        payload = json.loads(raw)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as error:
        raise BadCursor(str(error)) from None
    if not isinstance(payload, dict):
        raise BadCursor("payload is not an object")
    return payload
