"""What a prediction request leaves for monitoring, beside its answer: label-free aggregates in the
request log, X-Ray spans, and (sampled) a copy for a shadowed candidate. Never the text.

Aggregates: one count per bucket of each monitored dimension (contract/profile.py), written into
the request's JSON log line in CloudWatch's embedded metric format (EMF): Lambda's log pipeline
turns them into metrics `<bucket name>` in MONITORING_NAMESPACE with the run id as the dimension,
at no API call and no extra latency. Only the buckets a request fills are listed (a one-review
request fills 6 of 28), so a line grows by ~300 bytes. The drift check sums them per window.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

from fastapi import Request

from contract.predictor import Classified
from contract.profile import RUN_DIMENSION, dimensions, metric_name, observe, unknown_id
from function.config import Settings
from function.emf import emf_fields
from function.loader import Predictor
from function.tracing import send_spans


@lru_cache(maxsize=4)
def _unknown_id(predictor: Predictor) -> int | None:
    return unknown_id(predictor.classifier.encoder.tokenizer)


def bucket_counts(output: Classified, predictor: Predictor) -> dict[str, int]:
    """Predictions per bucket of every dimension, for the buckets this batch fills."""
    values = observe(output.probs, output.readings, _unknown_id(predictor), output.window_logits)
    counts: Counter[str] = Counter()
    for dim in dimensions(len(predictor.labels)):
        for bucket in dim.buckets(values[dim.name]).tolist():
            counts[metric_name(dim.name, bucket)] += 1
    return dict(counts)


def record(
    request: Request,
    settings: Settings,
    predictor: Predictor,
    texts: list[str],
    output: Classified,
    started: float,
) -> None:
    """After a prediction run that began at wall-clock `started`: EMF fields for the request log
    (the middleware writes them), tokenize/inference spans, and a shadow copy when sampled."""
    if settings.monitoring_namespace:
        counts = bucket_counts(output, predictor)
        request.state.emf = emf_fields(
            settings.monitoring_namespace, {RUN_DIMENSION: predictor.version}, counts
        )
    tokenized = started + output.tokenize_ms / 1e3
    send_spans(
        settings.aws_xray_daemon_address,
        [("tokenize", started, tokenized),
         ("inference", tokenized, tokenized + output.inference_ms / 1e3)],
    )  # fmt: skip
    shadow = getattr(request.app.state, "shadow", None)
    if shadow is not None:
        shadow.offer(predictor, texts, output)
