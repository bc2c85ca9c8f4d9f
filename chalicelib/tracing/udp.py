"""OTLP spans to the X-Ray daemon over UDP, framed as AWS's ADOT X-Ray UDP exporter frames them."""

from __future__ import annotations

import base64
import socket
from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

# The X-Ray daemon's UDP framing: its protocol header line, then for OTLP spans
# "T1S" (sampled traces) and the base64 of an ExportTraceServiceRequest. As in
# AWS's ADOT Python UDP exporter (aws-otel-otlp-udp-exporter, exporter.py).
DAEMON_HEADER = b'{"format":"json","version":1}\n'
SAMPLED_SPANS_PREFIX = b"T1S"


class UdpSpanExporter(SpanExporter):
    """OTLP spans to the X-Ray daemon over UDP, one datagram per export.

    Built on OpenTelemetry's own OTLP protobuf encoder. The socket never
    blocks and a failed send is reported to the SDK, never to the request.
    """

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self._address = (host, int(port))
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.setblocking(False)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        payload = base64.b64encode(encode_spans(spans).SerializeToString())
        try:
            self._socket.sendto(DAEMON_HEADER + SAMPLED_SPANS_PREFIX + payload, self._address)
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._socket.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # every export is sent at once
