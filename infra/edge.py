"""The edge: a CloudFront distribution in front of the API stage (README: The edge).

Reads outnumber favorites by hundreds to one and a ranking is the same for
everybody for seconds at a time, so public GETs are answered from CloudFront's
cache where the API allows it: a hit costs no API Gateway request, no Lambda
and no DynamoDB read.

- ``/public/graphql``: cached by a cache policy keyed on the whole query string
  (the document or its persisted hash, the variables) and on ``Accept`` (JSON or
  ``application/graphql-response+json``) and ``Origin`` (the CORS headers differ
  per origin); ``Authorization`` is neither forwarded nor keyed, as the public
  route ignores it. How long is the origin's ``Cache-Control`` (min TTL 0,
  default TTL 0: an answer without ``Cache-Control`` is not cached; max TTL per
  stage). CloudFront never caches a POST.
- everything else, ``/graphql`` first: not cached (the managed
  ``CachingDisabled`` policy), every viewer header but ``Host`` forwarded
  (the managed ``AllViewerExceptHostHeader``, which API Gateway needs: it
  routes on its own host name), ``Authorization`` included.

The distribution exists under the ``HasEdge`` condition, from the ``EdgeCache``
stack parameter whose default is the stage's setting (``infra/stages.py``).
With the edge, the API's endpoint is regional: an edge-optimized endpoint is a
CloudFront distribution of its own, a second hop for every miss.
"""

from __future__ import annotations

from typing import Any

from infra.stages import Stage

EDGE_PARAMETER = "EdgeCache"
HAS_EDGE = "HasEdge"
DISTRIBUTION = "EdgeDistribution"
CACHE_POLICY = "EdgeCachePolicy"
ORIGIN_REQUEST_POLICY = "EdgeOriginRequestPolicy"
ORIGIN_ID = "api"

CACHED_PATH = "/public/graphql"
# The headers the public route's answer depends on, besides the query string.
CACHE_KEY_HEADERS = ("Accept", "Origin")
# Forwarded on the cached path but not keyed: a POST's body type, a preflight's questions.
FORWARDED_HEADERS = (
    "Content-Type",
    "Access-Control-Request-Method",
    "Access-Control-Request-Headers",
)
ALL_METHODS = ("GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE")
CACHED_METHODS = ("GET", "HEAD")
# CloudFront's managed policies, by the ids its documentation gives.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
# API Gateway gives up after 29 s; CloudFront waits a little longer, so the
# client sees the API's own 504.
ORIGIN_READ_TIMEOUT_SECONDS = 30


def parameters(stage: Stage) -> dict[str, Any]:
    """The ``EdgeCache`` parameter (default: the stage's setting) and ``HasEdge``."""
    return {
        "Parameters": {
            EDGE_PARAMETER: {
                "Type": "String",
                "AllowedValues": ["true", "false"],
                "Default": "true" if stage.edge.enabled else "false",
                "Description": "Whether CloudFront caches public GraphQL GETs in front of the "
                "API (false removes the distribution; the API stays reachable directly).",
            }
        },
        "Conditions": {HAS_EDGE: {"Fn::Equals": [{"Ref": EDGE_PARAMETER}, "true"]}},
    }


def _name(stage: Stage, what: str) -> str:
    # Policy names are unique per account: one per stage.
    return f"{stage.app_name}-{stage.name}-{what}"


def _behaviour(cache_policy: Any, origin_request_policy: Any) -> dict[str, Any]:
    return {
        "TargetOriginId": ORIGIN_ID,
        # API clients do not follow a redirect with their POST body: refuse plain HTTP.
        "ViewerProtocolPolicy": "https-only",
        "AllowedMethods": list(ALL_METHODS),
        "CachedMethods": list(CACHED_METHODS),
        "CachePolicyId": cache_policy,
        "OriginRequestPolicyId": origin_request_policy,
        "Compress": True,
    }


def resources(stage: Stage, rest_api: str) -> dict[str, Any]:
    """The distribution and its two policies, each under ``HasEdge``."""
    settings = stage.edge
    cache_policy = {
        "Name": _name(stage, "public-graphql"),
        "Comment": "Public GraphQL GETs: the origin's Cache-Control decides, nothing without it",
        "MinTTL": 0,
        "DefaultTTL": 0,
        "MaxTTL": settings.max_ttl_seconds,
        "ParametersInCacheKeyAndForwardedToOrigin": {
            "EnableAcceptEncodingGzip": True,
            "EnableAcceptEncodingBrotli": True,
            "HeadersConfig": {"HeaderBehavior": "whitelist", "Headers": list(CACHE_KEY_HEADERS)},
            "QueryStringsConfig": {"QueryStringBehavior": "all"},
            "CookiesConfig": {"CookieBehavior": "none"},
        },
    }
    origin_request_policy = {
        "Name": _name(stage, "public-graphql-origin"),
        "Comment": "What the public route reads besides the cache key",
        "HeadersConfig": {"HeaderBehavior": "whitelist", "Headers": list(FORWARDED_HEADERS)},
        # The cache key's query string is forwarded already.
        "QueryStringsConfig": {"QueryStringBehavior": "none"},
        "CookiesConfig": {"CookieBehavior": "none"},
    }
    distribution = {
        "Enabled": True,
        "Comment": f"{stage.app_name}-{stage.name}: caches public GraphQL GETs",
        "HttpVersion": "http2and3",
        "IPV6Enabled": True,
        "PriceClass": settings.price_class,
        "Origins": [
            {
                "Id": ORIGIN_ID,
                "DomainName": {
                    "Fn::Sub": "${" + rest_api + "}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
                },
                # The API stage's path: /public/graphql at the edge is
                # /<stage>/public/graphql at API Gateway.
                "OriginPath": f"/{stage.api_gateway_stage}",
                "CustomOriginConfig": {
                    "OriginProtocolPolicy": "https-only",
                    "OriginSSLProtocols": ["TLSv1.2"],
                    "OriginReadTimeout": ORIGIN_READ_TIMEOUT_SECONDS,
                },
            }
        ],
        "DefaultCacheBehavior": _behaviour(CACHING_DISABLED, ALL_VIEWER_EXCEPT_HOST_HEADER),
        "CacheBehaviors": [
            {
                "PathPattern": CACHED_PATH,
                **_behaviour({"Ref": CACHE_POLICY}, {"Ref": ORIGIN_REQUEST_POLICY}),
            }
        ],
    }
    return {
        CACHE_POLICY: {
            "Type": "AWS::CloudFront::CachePolicy",
            "Condition": HAS_EDGE,
            "Properties": {"CachePolicyConfig": cache_policy},
        },
        ORIGIN_REQUEST_POLICY: {
            "Type": "AWS::CloudFront::OriginRequestPolicy",
            "Condition": HAS_EDGE,
            "Properties": {"OriginRequestPolicyConfig": origin_request_policy},
        },
        DISTRIBUTION: {
            "Type": "AWS::CloudFront::Distribution",
            "Condition": HAS_EDGE,
            "Properties": {"DistributionConfig": distribution},
        },
    }


def endpoint_configuration() -> dict[str, Any]:
    """The API's endpoint type: regional behind the edge, edge-optimized without it."""
    return {"Fn::If": [HAS_EDGE, "REGIONAL", "EDGE"]}


def outputs() -> dict[str, Any]:
    """Where the edge answers, and the id ``aws cloudfront create-invalidation`` takes."""
    domain = {"Fn::GetAtt": [DISTRIBUTION, "DomainName"]}
    return {
        "EdgeDomainName": {"Condition": HAS_EDGE, "Value": domain},
        "EdgePublicGraphqlUrl": {
            "Condition": HAS_EDGE,
            "Value": {"Fn::Sub": "https://${" + DISTRIBUTION + ".DomainName}" + CACHED_PATH},
        },
        "EdgeDistributionId": {"Condition": HAS_EDGE, "Value": {"Ref": DISTRIBUTION}},
    }
