"""The edge in the packaged stack: CloudFront caches public GETs as the API's
Cache-Control says, and passes ``/graphql`` and every POST through uncached,
with ``Authorization``. Checked on what CloudFormation will really create (the
SAM-expanded template of dev and prod)."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
from typing import Any

import pytest

from infra import edge, stages
from infra import template as merge
from infra.package import Package
from infra.stages import stage


def _resolve(node: Any, parameters: dict[str, str], conditions: dict[str, Any]) -> Any:
    """``node`` as CloudFormation would read it with these parameter values:
    ``Fn::If`` picked, ``Ref`` of a parameter replaced (what these templates use)."""
    if isinstance(node, list):
        return [_resolve(item, parameters, conditions) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Fn::If"}:
        name, then, otherwise = node["Fn::If"]
        chosen = then if _condition(name, parameters, conditions) else otherwise
        return _resolve(chosen, parameters, conditions)
    if set(node) == {"Ref"} and node["Ref"] in parameters:
        return parameters[node["Ref"]]
    return {key: _resolve(value, parameters, conditions) for key, value in node.items()}


def _condition(name: str, parameters: dict[str, str], conditions: dict[str, Any]) -> bool:
    def evaluate(node: Any) -> Any:
        if isinstance(node, dict) and set(node) == {"Fn::Equals"}:
            left, right = (evaluate(side) for side in node["Fn::Equals"])
            return left == right
        if isinstance(node, dict) and set(node) == {"Fn::Not"}:
            (inner,) = node["Fn::Not"]
            return not evaluate(inner)
        if isinstance(node, dict) and set(node) == {"Ref"}:
            return parameters[node["Ref"]]
        if isinstance(node, dict) and set(node) == {"Condition"}:
            return _condition(node["Condition"], parameters, conditions)
        assert isinstance(node, str), f"not evaluated here: {node}"
        return node

    return bool(evaluate(conditions[name]))


def deployed(template: dict[str, Any], **given: str) -> dict[str, Any]:
    """The resources and outputs a stack of this template gets with these
    parameters (the others at their defaults)."""
    parameters = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
    parameters.update(given)
    conditions = template.get("Conditions", {})

    def kept(section: dict[str, Any]) -> dict[str, Any]:
        return {
            name: _resolve(item, parameters, conditions)
            for name, item in section.items()
            if "Condition" not in item or _condition(item["Condition"], parameters, conditions)
        }

    return {"Resources": kept(template["Resources"]), "Outputs": kept(template["Outputs"])}


def _distribution(packaged: Package) -> dict[str, Any]:
    resources = deployed(packaged.transformed())["Resources"]
    config: dict[str, Any] = resources[edge.DISTRIBUTION]["Properties"]["DistributionConfig"]
    return config


def behaviour_for(config: dict[str, Any], path: str) -> dict[str, Any]:
    """The behaviour CloudFront applies to ``path``: the first pattern that
    matches, in order, else the default."""
    for behaviour in config.get("CacheBehaviors", []):
        if fnmatch.fnmatchcase(path, behaviour["PathPattern"]):
            return dict(behaviour)
    return dict(config["DefaultCacheBehavior"])


def _policies(packaged: Package) -> dict[str, Any]:
    resources = deployed(packaged.transformed())["Resources"]
    return {
        "cache": resources[edge.CACHE_POLICY]["Properties"]["CachePolicyConfig"],
        "origin": resources[edge.ORIGIN_REQUEST_POLICY]["Properties"]["OriginRequestPolicyConfig"],
    }


def test_the_edge_is_in_front_of_the_api_stage(packaged: Package) -> None:
    config = _distribution(packaged)
    assert config["Enabled"] is True
    (origin,) = config["Origins"]
    # The stack's own API, at its stage's path: /public/graphql at the edge is
    # /api/public/graphql at API Gateway.
    assert origin["DomainName"] == {
        "Fn::Sub": "${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
    }
    assert origin["OriginPath"] == f"/{stage(packaged.stage).api_gateway_stage}"
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    behaviours = [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]
    assert all(b["TargetOriginId"] == origin["Id"] for b in behaviours)
    # Clients keep their POST body: no redirect from plain HTTP, a refusal.
    assert all(b["ViewerProtocolPolicy"] == "https-only" for b in behaviours)
    # Behind the edge the API is regional (no second CloudFront hop on a miss).
    api = deployed(packaged.transformed())["Resources"][merge.REST_API]["Properties"]
    assert api["EndpointConfiguration"] == {"Types": ["REGIONAL"]}


def test_public_gets_are_cached_by_the_origins_cache_control(packaged: Package) -> None:
    config = _distribution(packaged)
    public = behaviour_for(config, "/public/graphql")
    assert public["CachePolicyId"] == {"Ref": edge.CACHE_POLICY}
    assert public["OriginRequestPolicyId"] == {"Ref": edge.ORIGIN_REQUEST_POLICY}
    # GET and HEAD only: a POST reaches the origin every time.
    assert sorted(public["CachedMethods"]) == ["GET", "HEAD"]
    assert {"GET", "POST", "OPTIONS"} <= set(public["AllowedMethods"])
    cache = _policies(packaged)["cache"]
    # Only the origin's Cache-Control caches: without it, nothing is kept.
    assert cache["MinTTL"] == 0
    assert cache["DefaultTTL"] == 0
    assert cache["MaxTTL"] == stage(packaged.stage).edge.max_ttl_seconds > 0


def test_the_cache_key_is_the_query_string_accept_and_origin(packaged: Package) -> None:
    key = _policies(packaged)["cache"]["ParametersInCacheKeyAndForwardedToOrigin"]
    # The document or its hash, the variables, the operation: all of it.
    assert key["QueryStringsConfig"] == {"QueryStringBehavior": "all"}
    headers = key["HeadersConfig"]
    assert headers["HeaderBehavior"] == "whitelist"
    # JSON or graphql-response+json; and CORS answers differ per Origin.
    assert sorted(headers["Headers"]) == ["Accept", "Origin"]
    assert key["CookiesConfig"] == {"CookieBehavior": "none"}
    # What the public route reads besides: a POST's Content-Type, a preflight's
    # questions; never a token (the public route ignores it, and a cache must not).
    origin = _policies(packaged)["origin"]
    forwarded = origin["HeadersConfig"]["Headers"]
    assert "Content-Type" in forwarded
    assert "authorization" not in {h.lower() for h in [*forwarded, *headers["Headers"]]}
    assert origin["CookiesConfig"] == {"CookieBehavior": "none"}


def test_graphql_is_never_cached_and_forwards_authorization(packaged: Package) -> None:
    config = _distribution(packaged)
    for path in ("/graphql", "/anything/else", "/public/graphql/"):
        behaviour = behaviour_for(config, path)
        assert behaviour["CachePolicyId"] == edge.CACHING_DISABLED, path
        # Every viewer header but Host (API Gateway routes on its own host name),
        # so Authorization reaches the authorizer.
        assert behaviour["OriginRequestPolicyId"] == edge.ALL_VIEWER_EXCEPT_HOST_HEADER, path
        assert {"GET", "POST", "OPTIONS"} <= set(behaviour["AllowedMethods"])
    # The managed policies by the ids CloudFront documents.
    assert edge.CACHING_DISABLED == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
    assert edge.ALL_VIEWER_EXCEPT_HOST_HEADER == "b689b0a8-53d0-40ab-baf2-68738e2966ac"
    # No behaviour caches a POST.
    behaviours = [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]
    assert all("POST" not in b["CachedMethods"] for b in behaviours)


def test_outputs_give_the_edges_domain(packaged: Package) -> None:
    outputs = deployed(packaged.transformed())["Outputs"]
    assert outputs["EdgeDomainName"]["Value"] == {"Fn::GetAtt": [edge.DISTRIBUTION, "DomainName"]}
    assert outputs["EdgeDistributionId"]["Value"] == {"Ref": edge.DISTRIBUTION}
    assert outputs["EdgePublicGraphqlUrl"]["Value"] == {
        "Fn::Sub": "https://${EdgeDistribution.DomainName}/public/graphql"
    }


def test_the_option_removes_the_edge(packaged: Package) -> None:
    template = packaged.transformed()
    on, off = deployed(template), deployed(template, EdgeCache="false")
    cloudfront = {"AWS::CloudFront::Distribution", "AWS::CloudFront::CachePolicy"}
    assert cloudfront <= {r["Type"] for r in on["Resources"].values()}
    assert not [r for r in off["Resources"].values() if r["Type"].startswith("AWS::CloudFront::")]
    assert not [name for name in off["Outputs"] if name.startswith("Edge")]
    # Nothing else refers to what is gone; the API is edge-optimized again.
    assert "Edge" not in json.dumps(off["Resources"]).replace("EDGE", "")
    api = off["Resources"][merge.REST_API]["Properties"]
    assert api["EndpointConfiguration"] == {"Types": ["EDGE"]}
    assert set(on["Resources"]) - set(off["Resources"]) == {
        edge.DISTRIBUTION,
        edge.CACHE_POLICY,
        edge.ORIGIN_REQUEST_POLICY,
    }


def test_the_stage_setting_is_the_parameters_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("dev", "prod"):
        config = stage(name)
        assert config.edge.enabled  # both stages have it; a stage may turn it off
        parameter = merge.merge_template(config)["Parameters"][edge.EDGE_PARAMETER]
        assert parameter["Default"] == "true"
        assert parameter["AllowedValues"] == ["true", "false"]
        monkeypatch.setitem(stages.EDGE, name, dataclasses.replace(config.edge, enabled=False))
        template = merge.merge_template(config)
        assert template["Parameters"][edge.EDGE_PARAMETER]["Default"] == "false"
        resources = deployed(template)["Resources"]
        assert not {edge.DISTRIBUTION, edge.CACHE_POLICY} & set(resources)
        # ...and back on at deploy time, without a new package.
        assert edge.DISTRIBUTION in deployed(template, EdgeCache="true")["Resources"]
