"""A stand-in for the X-Ray daemon Lambda runs: a UDP socket that keeps what arrives.

Lambda tells a function where its daemon listens (``AWS_XRAY_DAEMON_ADDRESS``).
Both tracing backends send there: the X-Ray SDK segment documents (JSON), the
OpenTelemetry backend OTLP spans (``T1S`` + base64 protobuf). :meth:`nodes`
reads either into one shape, so a test or the benchmark can check the trees
they make against each other.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

HEADER = b'{"format":"json","version":1}\n'
# The X-Ray SDK writes its header with spaces; the daemon reads either.
SDK_HEADER = b'{"format": "json", "version": 1}\n'
SAMPLED_SPANS = b"T1S"


@dataclass(frozen=True)
class Node:
    """One segment, subsegment or span, as the X-Ray console would show it."""

    id: str
    parent_id: str | None
    trace_id: str  # X-Ray's form: 1-<8 hex>-<24 hex>
    name: str  # an AWS call: "DynamoDB.<Operation>"
    annotations: dict[str, Any] = field(default_factory=dict)
    tables: tuple[str, ...] = ()
    error: bool = False
    # The spans this one links to (trace id, span id): OTLP span links, or with the
    # X-Ray SDK the metadata chalicelib/tracing/xray_sdk.py writes ("favorites" / "links").
    links: tuple[tuple[str, str], ...] = ()
    link_attributes: tuple[dict[str, Any], ...] = ()  # one per link
    source: str = ""  # "xray-sdk" or "opentelemetry"


def xray_trace_id(hex_id: str) -> str:
    return f"1-{hex_id[:8]}-{hex_id[8:]}"


class XRayDaemon:
    """UDP on 127.0.0.1, on a free port; every datagram kept until :meth:`clear`."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self._datagrams: list[bytes] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="xray-daemon", daemon=True)

    @property
    def address(self) -> str:
        host, port = self._socket.getsockname()
        return f"{host}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                datagram = self._socket.recv(65535)
            except TimeoutError:
                continue
            with self._lock:
                self._datagrams.append(datagram)

    def datagrams(self) -> list[bytes]:
        with self._lock:
            return list(self._datagrams)

    def clear(self) -> None:
        with self._lock:
            self._datagrams.clear()

    def wait_for(self, trace_id: str, count: int, timeout: float = 5.0) -> list[Node]:
        """The nodes of ``trace_id`` once at least ``count`` have arrived."""
        deadline = time.monotonic() + timeout
        while True:
            found = [node for node in self.nodes() if node.trace_id == trace_id]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.01)

    def nodes(self) -> list[Node]:
        found: list[Node] = []
        for datagram in self.datagrams():
            for header in (HEADER, SDK_HEADER):
                if datagram.startswith(header):
                    body = datagram[len(header) :]
                    break
            else:
                raise ValueError(f"no daemon header: {datagram[:60]!r}")
            if body.startswith(SAMPLED_SPANS):
                found += _otlp_nodes(base64.b64decode(body[len(SAMPLED_SPANS) :], validate=True))
            else:
                found += _xray_nodes(json.loads(body), None, None)
        return found


def _xray_nodes(document: dict[str, Any], parent: str | None, trace: str | None) -> list[Node]:
    trace_id = document.get("trace_id") or trace
    assert trace_id, document
    aws = document.get("aws", {})
    name = document["name"]
    tables: tuple[str, ...] = ()
    if document.get("namespace") == "aws":
        name = f"DynamoDB.{aws['operation']}"
        if "table_name" in aws:
            tables = (aws["table_name"],)
        elif "table_names" in aws:
            tables = tuple(sorted(aws["table_names"]))
    links = document.get("metadata", {}).get("favorites", {}).get("links", [])
    node = Node(
        id=document["id"],
        parent_id=document.get("parent_id", parent),
        trace_id=trace_id,
        name=name,
        annotations=dict(document.get("annotations", {})),
        tables=tables,
        error=bool(document.get("error") or document.get("fault")),
        links=tuple((link["trace_id"], link["id"]) for link in links),
        link_attributes=tuple(
            {key: value for key, value in link.items() if key not in ("trace_id", "id")}
            for link in links
        ),
        source="xray-sdk",
    )
    children = [
        child
        for sub in document.get("subsegments", [])
        for child in _xray_nodes(sub, document["id"], trace_id)
    ]
    return [node, *children]


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None


def _otlp_nodes(payload: bytes) -> list[Node]:
    # Imported here: only OTLP datagrams need the protobuf classes.
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: PLC0415
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    request.ParseFromString(payload)
    found: list[Node] = []
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                attributes = {item.key: _value(item.value) for item in span.attributes}
                annotated = attributes.get("aws.xray.annotations", [])
                found.append(
                    Node(
                        id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex() or None,
                        trace_id=xray_trace_id(span.trace_id.hex()),
                        name=span.name,
                        annotations={key: attributes[key] for key in annotated},
                        tables=tuple(attributes.get("aws.dynamodb.table_names", ())),
                        error=span.status.code == span.status.STATUS_CODE_ERROR,
                        links=tuple(
                            (xray_trace_id(link.trace_id.hex()), link.span_id.hex())
                            for link in span.links
                        ),
                        link_attributes=tuple(
                            {item.key: _value(item.value) for item in link.attributes}
                            for link in span.links
                        ),
                        source="opentelemetry",
                    )
                )
    return found


def tree(nodes: list[Node], parent_id: str | None) -> list[tuple[str, tuple[str, ...], list[Any]]]:
    """The shape under ``parent_id``: (name, annotation keys, children), sorted."""
    shape = [
        (node.name, tuple(sorted(node.annotations)), tree(nodes, node.id))
        for node in nodes
        if node.parent_id == parent_id
    ]
    return sorted(shape, key=repr)
