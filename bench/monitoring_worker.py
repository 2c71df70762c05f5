"""The live function in a fresh process for bench/monitoring.py: `python -m
bench.monitoring_worker INPUTS START`, configured by its environment as Lambda configures it
(MODEL_URI, MONITORING_NAMESPACE, AWS_XRAY_DAEMON_ADDRESS, SHADOW_FUNCTION, ...).

It imports the Lambda entry point (cold start: from the parent's clock at START to the first
answer), then sends each request of INPUTS as an API Gateway v2 /predict event and times the
handler: what a client waits for. With a shadow, it waits after each request until the copy has
left, untimed, as Lambda holds the environment for the extension before the next invocation;
with `alternate_shadow` only every other request is copied, so copied and plain requests are
timed side by side.
The function's JSON log lines go to stdout, as in Lambda; the last line is `WORKER {json}`.
"""

import json
import os
import sys
import time


def main(inputs: str, start: float) -> dict:
    with open(inputs, encoding="utf-8") as fh:
        spec = json.load(fh)
    requests, alternate = spec["requests"], spec.get("alternate_shadow", False)
    path = os.path.join(os.path.dirname(__file__), "..", "events", "apigw-v2-predict.json")
    with open(path, encoding="utf-8") as fh:
        template = json.load(fh)

    def event(texts: list) -> dict:
        return {**template, "body": json.dumps({"text": texts}), "isBase64Encoded": False}

    from function.handler import app, handler

    first = handler(event(requests[0]), None)
    cold = time.time() - start
    statuses = [first["statusCode"]]
    shadow = app.state.shadow
    latencies, copied, plain = [], [], []
    for i, texts in enumerate(requests[1:], start=1):
        if alternate:  # every other request copied: both sides of the ratio under the same load
            shadow.sample = float(i % 2)
        began = time.perf_counter()
        statuses.append(handler(event(texts), None)["statusCode"])
        latencies.append((time.perf_counter() - began) * 1e3)
        (copied if alternate and i % 2 else plain).append(latencies[-1])
        if shadow is not None and not shadow.wait_idle(120):
            raise RuntimeError("a shadow copy was not sent within 120 s")
    if shadow is not None:
        shadow.wait_idle(120)
    return {
        "cold_start_s": cold,
        "latencies_ms": latencies,
        "latencies_copied_ms": copied,
        "latencies_plain_ms": plain,
        "statuses": statuses,
        "shadow": None if shadow is None else
        {"sent": shadow.sent, "failed": shadow.failed, "dropped": shadow.dropped},
    }  # fmt: skip


if __name__ == "__main__":
    result = main(sys.argv[1], float(sys.argv[2]))
    sys.stdout.flush()
    sys.stdout.write("WORKER " + json.dumps(result) + "\n")
