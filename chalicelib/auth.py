"""Who is calling, from what API Gateway's Cognito authorizer put in the request.

The user id is only ever the token's ``sub`` claim; no argument, header or
variable can name another user.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.ids import is_valid_id


def caller_id(request_context: Mapping[str, Any] | None) -> str | None:
    """The caller's user id, or ``None`` when the request carries no usable identity."""
    authorizer = (request_context or {}).get("authorizer")
    if not isinstance(authorizer, Mapping):
        return None
    claims = authorizer.get("claims")
    if not isinstance(claims, Mapping):
        return None
    sub = claims.get("sub")
    return sub if is_valid_id(sub) else None
