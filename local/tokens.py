"""Unsigned JWTs for the local stack, the simulator, the demo page and the tests.

``chalice local`` (and Chalice's test client) decode the Cognito token without
verifying it, so a token here is just a header, a payload with ``sub`` and
``cognito:username``, and a placeholder signature.
"""

from __future__ import annotations

import base64
import json
from typing import Any


def token(sub: str | None, **claims: Any) -> str:
    """An unsigned JWT naming ``sub`` as the caller (no ``sub`` when it is ``None``)."""
    payload: dict[str, Any] = dict(claims)
    if sub is not None:
        payload.setdefault("sub", sub)
        payload.setdefault("cognito:username", sub)

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}.signature"
