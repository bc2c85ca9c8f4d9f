"""The Chalice side of GraphQL: a view per route, with the caller's identity.

Whatever the HTTP request looks like, the answer is JSON in the GraphQL
response shape: broken requests get a 4xx with ``errors[0].message`` saying
what is wrong, and anything unexpected a 500 with only a request id.

The answer's media type follows the GraphQL-over-HTTP specification: a client
whose ``Accept`` header prefers ``application/graphql-response+json`` gets it,
with the specification's status codes (a request error, such as a document that
does not parse or validate, is a 4xx without a ``data`` entry); every other
client gets ``application/json`` and the status codes it always had (200 for
anything GraphQL itself reports).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from chalice.app import Request, Response
from cross_web import HTTPException, SyncHTTPRequestAdapter
from graphql import GraphQLError
from strawberry.chalice.views import GraphQLView
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.base import BaseRequestProtocol
from strawberry.http.temporal_response import TemporalResponse
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult

from chalicelib.api.caching import NO_STORE, cache_control
from chalicelib.api.context import RequestContext
from chalicelib.api.limits import MAX_NUMBER_DIGITS
from chalicelib.api.persisted import DEFAULT_MANIFEST, PersistedDocuments, load_manifest
from chalicelib.api.schema import is_unexpected
from chalicelib.auth import caller_id
from chalicelib.documents import DocumentStore
from chalicelib.errors import ServiceError
from chalicelib.favorites import FavoritesStore
from chalicelib.rankings import RankingStore
from chalicelib.settings import Settings
from chalicelib.tracing import Tracer

if TYPE_CHECKING:
    import strawberry

logger = logging.getLogger(__name__)

HTTP_ERROR_CODES = {
    413: "PAYLOAD_TOO_LARGE",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
}

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
# The media types answered, in the order preferred when the client has no preference
# (no Accept header, */*, or equal weights): application/json, which every client reads.
MEDIA_TYPES = (JSON, GRAPHQL_RESPONSE_JSON)
CONTENT_TYPES = {GRAPHQL_RESPONSE_JSON: f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8", JSON: JSON}


@lru_cache(maxsize=256)
def negotiate(accept: str | None) -> str | None:
    """The media type to answer in for an ``Accept`` header, or None if it allows neither.

    RFC 9110: each media type takes the weight (q) of the most specific range that
    matches it; the highest weight wins, then the more specific range, then the
    range listed first; a weight of 0 means "not acceptable". No header (or an
    empty one) is ``application/json``, as the specification advises.
    """
    if not accept or not accept.strip():
        return JSON
    ranges: list[tuple[str, float]] = []
    for item in accept.split(","):
        name, *params = (part.strip() for part in item.split(";"))
        weight = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    weight = 0.0  # a malformed weight accepts nothing
        if name:
            ranges.append((name.lower(), weight))
    best: tuple[float, int, int] | None = None
    chosen = None
    for media_type in MEDIA_TYPES:
        kind = media_type.split("/")[0]
        matches = [
            (specificity, -position, weight)
            for position, (name, weight) in enumerate(ranges)
            for specificity, pattern in ((2, media_type), (1, f"{kind}/*"), (0, "*/*"))
            if name == pattern
        ]
        if not matches:
            continue
        specificity, neg_position, weight = max(matches)
        rank = (weight, specificity, neg_position)
        if weight > 0 and (best is None or rank > best):
            best, chosen = rank, media_type
    return chosen


def accept_header(headers: Mapping[str, str]) -> str | None:
    return headers.get("accept")


@dataclass
class NegotiatedResponse(TemporalResponse):
    """Strawberry's per-request response, with the media type chosen for it and what
    its caching headers depend on."""

    media_type: str = JSON
    method: str = "POST"
    if_none_match: str | None = None
    context: RequestContext | None = None


def is_request_error(result: ExecutionResult) -> bool:
    """Whether GraphQL refused the request before executing it (parse, validation,
    variable coercion): no data, and no error tied to a field. A field error always
    has a path (GraphQL spec, "Errors"), even when it nulls the whole ``data``."""
    errors: list[GraphQLError] = result.errors or []
    return result.data is None and bool(errors) and all(not error.path for error in errors)


def masked(error: GraphQLError, rid: str) -> GraphQLError:
    return GraphQLError(
        "Internal server error.",
        path=error.path,
        extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": rid},
    )


def request_error_status(errors: list[object]) -> int:
    """A request refused before execution is the client's fault (400), unless one of
    its errors is a fault of ours, masked as INTERNAL_SERVER_ERROR (500)."""
    for error in errors:
        extensions = error.get("extensions") if isinstance(error, dict) else None
        if isinstance(extensions, dict) and extensions.get("code") == "INTERNAL_SERVER_ERROR":
            return 500
    return 400


def parse_json_int(text: str) -> int:
    """json's ``parse_int``: int() of over 4300 digits would raise ValueError (a 500)."""
    digits = len(text.lstrip("-"))
    if digits > MAX_NUMBER_DIGITS:
        raise HTTPException(
            400, f"a JSON number has {digits} digits; at most {MAX_NUMBER_DIGITS} are accepted"
        )
    return int(text)


def entity_tag(body: str | bytes) -> str:
    """A strong validator of the body: the same bytes, the same tag."""
    raw = body.encode() if isinstance(body, str) else body
    return '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: weak comparison, a list of tags, or *."""
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


def request_id(request: Request) -> str:
    """API Gateway's id for the request, else Lambda's, else a fresh one."""
    from_gateway = (request.context or {}).get("requestId")
    if isinstance(from_gateway, str) and from_gateway:
        return from_gateway
    from_lambda = getattr(getattr(request, "lambda_context", None), "aws_request_id", None)
    if isinstance(from_lambda, str) and from_lambda:
        return from_lambda
    return uuid.uuid4().hex


def error_response(
    status: int,
    message: str,
    code: str,
    *,
    media_type: str = JSON,
    headers: Mapping[str, str] | None = None,
    **extensions: str,
) -> Response:
    """A GraphQL response with one error and no ``data``: the request never ran."""
    body = {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}
    return Response(
        body=json.dumps(body),
        status_code=status,
        headers={"Content-Type": CONTENT_TYPES[media_type], "Vary": "Accept", **(headers or {})},
    )


class Stores(Protocol):
    """Where each request's stores come from: the composition object
    (``chalicelib.services``) hands itself in, so the GraphQL layer never imports it."""

    def favorites(self) -> FavoritesStore: ...

    def rankings(self) -> RankingStore: ...

    def documents(self) -> DocumentStore: ...


class FavoritesGraphQLView(GraphQLView[RequestContext, None]):
    """One route's view, built once per composition object (``Services.view``)."""

    def __init__(
        self,
        *,
        public: bool,
        stores: Stores,
        schema: strawberry.Schema,
        settings: Settings,
        tracer: Tracer,
        clock: Callable[[], datetime],
    ) -> None:
        super().__init__(schema=schema, graphql_ide="graphiql" if settings.graphiql else None)
        self._public = public
        self._stores = stores
        self._settings = settings
        self._tracer = tracer
        self._clock = clock
        self._max_body_bytes = settings.max_body_bytes
        # The manifest's documents when this stage runs trusted documents only.
        self._trusted = (
            load_manifest(Path(settings.trusted_documents_manifest or DEFAULT_MANIFEST))
            if settings.trusted_documents_only
            else None
        )

    @property
    def persisted(self) -> PersistedDocuments:
        return PersistedDocuments(self._stores.documents(), self._trusted)

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        # Only a browser asking for a page, with neither a query nor a persisted hash:
        # a client's hash-only GET with Accept: */* must reach the protocol.
        params = request.query_params
        return (
            request.method == "GET"
            and params.get("query") is None
            and params.get("extensions") is None
            and "text/html" in request.headers.get("accept", "")
        )

    def get_sub_response(self, request: Request) -> NegotiatedResponse:
        return NegotiatedResponse(
            media_type=negotiate(accept_header(request.headers)) or JSON,
            method=request.method,
            if_none_match=request.headers.get("if-none-match"),
        )

    def get_context(self, request: Request, response: TemporalResponse) -> RequestContext:
        # The public route never has an identity, whatever the request carries.
        user_id = None if self._public else caller_id(request.context)
        context = RequestContext(
            user_id=user_id,
            favorites=self._stores.favorites(),
            rankings=self._stores.rankings(),
            clock=self._clock,
            request_id=request_id(request),
            settings=self._settings,
        )
        if isinstance(response, NegotiatedResponse):
            response.context = context
        return context

    def execute_single(  # noqa: PLR0917
        self,
        request: Request,
        request_adapter: SyncHTTPRequestAdapter,
        sub_response: TemporalResponse,
        context: RequestContext,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        context.operation_named = request_data.operation_name is not None
        try:
            resolved = self.persisted.resolve(request_data)
        except ServiceError as error:
            return ExecutionResult(
                data=None, errors=[GraphQLError(error.message, extensions=error.extensions)]
            )
        result = super().execute_single(
            request, request_adapter, sub_response, context, root_value, resolved.data
        )
        if not is_request_error(result):
            self.persisted.stored(resolved)
        if result.errors and any(is_unexpected(error) for error in result.errors):
            # An exception in a schema extension ends the operation before the
            # masking extension runs (strawberry reports it as it is): mask it here,
            # as MaskUnexpectedErrors would have. The schema already logged it.
            result.errors = [
                masked(error, context.request_id) if is_unexpected(error) else error
                for error in result.errors
            ]
        return result

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

    def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        response = super().process_result(request, result)
        # "data": null says execution ran and failed; a request error never ran, so
        # application/graphql-response+json leaves the entry out (application/json
        # clients keep the null they have always had).
        if negotiate(accept_header(request.headers)) == GRAPHQL_RESPONSE_JSON and (
            is_request_error(result)
        ):
            response.pop("data", None)
        return response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: TemporalResponse,
    ) -> Response:
        media_type = getattr(sub_response, "media_type", JSON)
        # With data (even null) the operation ran: 200, partial or not. Without it
        # the request was refused: a 4xx, or a 5xx if that was our fault. (Only
        # application/graphql-response+json answers leave data out.)
        if isinstance(response_data, dict) and "data" not in response_data:
            sub_response.status_code = request_error_status(list(response_data.get("errors") or []))
        response = super().create_response(response_data, sub_response)
        response.headers["Content-Type"] = CONTENT_TYPES[media_type]
        # The answer depends on the token only on the signed-in route.
        response.headers["Vary"] = "Accept" if self._public else "Accept, Authorization"
        return self._cache_headers(response, response_data, sub_response)

    def _cache_headers(
        self,
        response: Response,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: TemporalResponse,
    ) -> Response:
        """Cache-Control from the operation's policy; for a public GET an ETag, and a 304
        when the client already holds that answer."""
        policy = NO_STORE
        if (
            isinstance(sub_response, NegotiatedResponse)
            and sub_response.method == "GET"
            and sub_response.context is not None
            and isinstance(response_data, dict)
            and not response_data.get("errors")
        ):
            policy = sub_response.context.cache_policy
        response.headers["Cache-Control"] = cache_control(policy, self._settings)
        if not policy.shared or not isinstance(sub_response, NegotiatedResponse):
            return response
        etag = entity_tag(response.body if isinstance(response.body, str | bytes) else "")
        response.headers["ETag"] = etag
        if matches(sub_response.if_none_match, etag):
            return Response(body="", status_code=304, headers=dict(response.headers))
        return response

    def execute_request(self, request: Request) -> Response:
        media_type = negotiate(accept_header(request.headers))
        if media_type is None and not self.should_render_graphql_ide(
            self.request_adapter_class(request)
        ):
            return error_response(
                406,
                f"the Accept header allows neither {GRAPHQL_RESPONSE_JSON} nor {JSON},"
                " the media types this API answers in",
                HTTP_ERROR_CODES[406],
            )
        media_type = media_type or JSON
        try:
            return self.run(request=request)
        except HTTPException as error:
            status, headers = error.status_code, None
            if isinstance(error.__cause__, InvalidOperationTypeError):
                # GraphQL over HTTP: a mutation over GET MUST be a 405, and a 405
                # names the methods allowed (RFC 9110).
                status, headers = 405, {"Allow": "POST"}
            code = HTTP_ERROR_CODES.get(status, "BAD_REQUEST")
            return error_response(
                status, error.reason, code, media_type=media_type, headers=headers
            )
        except Exception:
            # Resolver errors are masked inside GraphQL; this is anything else.
            rid = request_id(request)
            logger.exception("unexpected error outside GraphQL, request %s", rid)
            with self._tracer.subsegment("graphql_http", request_id=rid, failed=True):
                pass
            return error_response(
                500,
                "Internal server error.",
                "INTERNAL_SERVER_ERROR",
                media_type=media_type,
                requestId=rid,
            )
