"""CORS for a list of browser origins. Pure: headers in, headers out.

Chalice's ``CORSConfig`` allows one fixed origin, answered by API Gateway's mock
integration. Frontends come from several origins (a web app, a second one, a
developer's Vite server), so the service answers preflights itself and echoes
the request's ``Origin`` when it is on the stage's list, the way the Fetch
standard wants: one origin per response, ``Vary: Origin`` so no cache hands one
origin's answer to another, and no header at all for an origin not listed.
"""

from __future__ import annotations

from collections.abc import Mapping

# What the GraphQL clients send: the token, the JSON body, and Apollo's client
# awareness headers (Apollo Client and its tooling add them when configured).
ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "Accept",
    "apollographql-client-name",
    "apollographql-client-version",
)
ALLOWED_METHODS = ("GET", "POST", "OPTIONS")
# Two hours: Chromium's ceiling. Without it browsers repeat the preflight before
# nearly every signed-in request (the Fetch default is 5 seconds).
MAX_AGE_SECONDS = 7200


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # Chalice's request headers are case-insensitive; a plain dict in tests may not be.
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return value


def allowed_origin(headers: Mapping[str, str], allowed: tuple[str, ...]) -> str | None:
    """The request's ``Origin`` when the stage lists it, else None."""
    origin = _header(headers, "Origin")
    return origin if origin is not None and origin in allowed else None


def response_headers_for(headers: Mapping[str, str], allowed: tuple[str, ...]) -> dict[str, str]:
    """CORS headers for an actual (non-preflight) response to this request."""
    if not allowed:
        return {}
    origin = allowed_origin(headers, allowed)
    if origin is None:
        return {"Vary": "Origin"}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def preflight_headers(headers: Mapping[str, str], allowed: tuple[str, ...]) -> dict[str, str]:
    """The answer to an ``OPTIONS`` preflight: permissions for a listed origin, none otherwise."""
    answer = response_headers_for(headers, allowed)
    if "Access-Control-Allow-Origin" in answer:
        answer |= {
            "Access-Control-Allow-Methods": ",".join(ALLOWED_METHODS),
            "Access-Control-Allow-Headers": ",".join(ALLOWED_HEADERS),
            "Access-Control-Max-Age": str(MAX_AGE_SECONDS),
        }
    return answer


def merge_vary(existing: str | None, added: str) -> str:
    """``Vary`` with ``added`` once, keeping what the response already varies on."""
    names = [name.strip() for name in (existing or "").split(",") if name.strip()]
    if added.lower() not in (name.lower() for name in names):
        names.append(added)
    return ", ".join(names)


def add_response_headers(
    response_headers: dict[str, str | list[str]],
    request_headers: Mapping[str, str],
    allowed: tuple[str, ...],
) -> None:
    """Adds this request's CORS headers to a response's (Chalice's), merging ``Vary``."""
    for name, value in response_headers_for(request_headers, allowed).items():
        existing = response_headers.get(name)
        merged = (
            merge_vary(existing, value) if name == "Vary" and isinstance(existing, str) else value
        )
        response_headers[name] = merged
