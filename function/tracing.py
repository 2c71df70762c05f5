"""X-Ray subsegments for the two steps of a prediction, tokenize and inference, sent the way the
X-Ray SDK sends them: one UDP datagram per subsegment document to the daemon Lambda runs at
AWS_XRAY_DAEMON_ADDRESS, parented on the function's segment that the invocation's trace header
names. ~60 lines instead of aws-xray-sdk, whose import and patching cost a cold start more than
these two spans are worth (bench/monitoring.py measures it).

With tracing active, Lambda sets `_X_AMZN_TRACE_ID` for each invocation to
`Root=<trace id>;Parent=<segment id>;Sampled=<0|1>`: spans go out only when Sampled=1, so with
tracing off (PassThrough, nothing upstream sampling) nothing is sent. UDP never blocks on the
daemon and a lost datagram loses a span, never a request.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
from collections.abc import Sequence

log = logging.getLogger(__name__)

TRACE_HEADER_ENV = "_X_AMZN_TRACE_ID"  # per invocation: set by the runtime, not a setting
HEADER = b'{"format": "json", "version": 1}\n'
_socket: socket.socket | None = None


def trace_context() -> dict[str, str] | None:
    """Root and Parent of this invocation's trace when it is sampled, else None."""
    header = os.environ.get(TRACE_HEADER_ENV, "")
    parts = dict(p.split("=", 1) for p in header.split(";") if "=" in p)
    if parts.get("Sampled") != "1" or not parts.get("Root") or not parts.get("Parent"):
        return None
    return parts


def daemon_endpoint(address: str) -> tuple[str, int] | None:
    """`host:port`, or the SDK's `tcp:host:port udp:host:port` form (UDP is what we use)."""
    for part in address.split():
        if part.startswith("tcp:"):
            continue
        host, _, port = part.removeprefix("udp:").rpartition(":")
        if host and port.isdigit():
            return host, int(port)
    return None


def send_spans(daemon_address: str, spans: Sequence[tuple[str, float, float]]) -> None:
    """Sends (name, start, end) spans, times in epoch seconds, as subsegments of the
    invocation's segment; does nothing outside a sampled trace or without a daemon."""
    global _socket
    context = trace_context() if daemon_address else None
    endpoint = daemon_endpoint(daemon_address) if context else None
    if context is None or endpoint is None:
        return
    if _socket is None:
        _socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for name, start, end in spans:
        document = {"type": "subsegment", "id": secrets.token_hex(8), "name": name,
                    "trace_id": context["Root"], "parent_id": context["Parent"],
                    "start_time": start, "end_time": end}  # fmt: skip
        try:
            _socket.sendto(HEADER + json.dumps(document).encode(), endpoint)
        except OSError as exc:  # a span is not worth a failed request
            log.warning("x-ray span not sent", extra={"span": name, "error": str(exc)})
