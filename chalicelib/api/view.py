"""The Chalice side of GraphQL: a view per route, with the caller's identity.

Whatever the HTTP request looks like, the answer is JSON in the GraphQL
response shape: broken requests get a 4xx with ``errors[0].message`` saying
what is wrong, and anything unexpected a 500 with only a request id.
"""

from __future__ import annotations

import json
import logging
import uuid
from functools import cache

from chalice.app import Request, Response
from cross_web import HTTPException, SyncHTTPRequestAdapter
from strawberry.chalice.views import GraphQLView
from strawberry.http import GraphQLRequestData
from strawberry.http.temporal_response import TemporalResponse

from chalicelib import services, tracing
from chalicelib.api.context import RequestContext
from chalicelib.api.limits import MAX_NUMBER_DIGITS
from chalicelib.api.schema import schema
from chalicelib.auth import caller_id
from chalicelib.settings import get_settings

logger = logging.getLogger(__name__)

HTTP_ERROR_CODES = {413: "PAYLOAD_TOO_LARGE", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


def parse_json_int(text: str) -> int:
    """json's ``parse_int``: int() of over 4300 digits would raise ValueError (a 500)."""
    digits = len(text.lstrip("-"))
    if digits > MAX_NUMBER_DIGITS:
        raise HTTPException(
            400, f"a JSON number has {digits} digits; at most {MAX_NUMBER_DIGITS} are accepted"
        )
    return int(text)


def request_id(request: Request) -> str:
    """API Gateway's id for the request, else Lambda's, else a fresh one."""
    from_gateway = (request.context or {}).get("requestId")
    if isinstance(from_gateway, str) and from_gateway:
        return from_gateway
    from_lambda = getattr(getattr(request, "lambda_context", None), "aws_request_id", None)
    if isinstance(from_lambda, str) and from_lambda:
        return from_lambda
    return uuid.uuid4().hex


def error_response(status: int, message: str, code: str, **extensions: str) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}
    return Response(
        body=json.dumps(body), status_code=status, headers={"Content-Type": "application/json"}
    )


class FavoritesGraphQLView(GraphQLView):
    def __init__(self, *, public: bool) -> None:
        settings = get_settings()
        super().__init__(
            schema=schema(introspection=settings.graphiql),
            graphql_ide="graphiql" if settings.graphiql else None,
        )
        self._public = public
        self._max_body_bytes = settings.max_body_bytes

    def get_context(self, request: Request, response: TemporalResponse) -> RequestContext:  # type: ignore[override]
        # The public route never has an identity, whatever the request carries.
        user_id = None if self._public else caller_id(request.context)
        return RequestContext(
            user_id=user_id,
            favorites=services.favorites(),
            rankings=services.rankings(),
            request_id=request_id(request),
        )

    def parse_http_body(
        self, request: SyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        if request.method == "POST":
            size = len(request.body or b"")
            if size > self._max_body_bytes:
                raise HTTPException(
                    413, f"request body is {size} bytes; the limit is {self._max_body_bytes}"
                )
            if size == 0:
                raise HTTPException(400, "request body is empty: send a JSON object with a query")
        return super().parse_http_body(request)

    def decode_json(self, data: str | bytes) -> object:
        # json.loads would guess UTF-16/32 from the bytes and fail with a
        # UnicodeDecodeError (a 500); JSON over HTTP is UTF-8 (RFC 8259).
        try:
            text = data.decode("utf-8") if isinstance(data, bytes) else data
        except UnicodeDecodeError:
            raise HTTPException(400, "request body is not valid UTF-8") from None
        try:
            value = json.loads(text, parse_int=parse_json_int)
        except RecursionError:
            raise HTTPException(400, "JSON is nested too deeply") from None
        if isinstance(value, list) and all(isinstance(item, dict) for item in value):
            return value
        if not isinstance(value, dict):
            raise HTTPException(
                400, "expected a JSON object (or, with batching on, an array of objects)"
            )
        return value

    def execute_request(self, request: Request) -> Response:
        try:
            return self.run(request=request)
        except HTTPException as error:
            code = HTTP_ERROR_CODES.get(error.status_code, "BAD_REQUEST")
            return error_response(error.status_code, error.reason, code)
        except Exception:
            # Resolver errors are masked inside GraphQL; this is anything else.
            rid = request_id(request)
            logger.exception("unexpected error outside GraphQL, request %s", rid)
            with tracing.subsegment("graphql_http", request_id=rid, failed=True):
                pass
            return error_response(
                500, "Internal server error.", "INTERNAL_SERVER_ERROR", requestId=rid
            )


@cache
def view(public: bool) -> FavoritesGraphQLView:
    return FavoritesGraphQLView(public=public)


def handle(request: Request, *, public: bool) -> Response:
    return view(public).execute_request(request)
