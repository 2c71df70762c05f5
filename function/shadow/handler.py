"""The shadow receiver: `function.shadow.handler.handler`, the serving image with another CMD,
serving the candidate run (its MODEL_URI, pinned). Each event is one copied request from the
live function (function/shadow/forward.py): the candidate answers the same texts, read the same
way, and only the comparison with the live answer is kept, as metrics in its log line
(comparison.py, embedded metric format). The texts are never logged or stored.

The model loads at init, like the API's. A copy that is malformed or that arrives while no model
is loaded is refused with a log line and a result that says why; asynchronous invocations are
not retried (the stack sets retries to 0), so nothing piles up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from contract.encoder import STRATEGIES
from function.config import load_settings
from function.emf import emf_fields
from function.loader import load_model, reload_if_due
from function.logs import configure_logging
from function.shadow.comparison import CANDIDATE_DIMENSION, LiveAnswer, compare

log = logging.getLogger("function.shadow")

settings, _refused = load_settings()
configure_logging(settings.log_level)
_state = load_model(settings, refused=_refused)


class CopyError(ValueError):
    """A copied request the receiver cannot compare; the message says what is wrong."""


@dataclass(frozen=True)
class Copy:
    texts: list[str]
    strategy: str | None
    live: LiveAnswer

    @classmethod
    def parse(cls, event: Any, max_texts: int) -> Copy:
        if not isinstance(event, dict):
            raise CopyError("the event must be a JSON object from the live function's forwarder")
        texts, live = event.get("texts"), event.get("live")
        if not (isinstance(texts, list) and texts and all(isinstance(t, str) for t in texts)):
            raise CopyError("texts must be a non-empty list of strings")
        if len(texts) > max_texts:
            raise CopyError(f"{len(texts)} texts; the limit is {max_texts} (MAX_TEXTS)")
        strategy = event.get("strategy")
        if strategy is not None and strategy not in STRATEGIES:
            raise CopyError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        if not isinstance(live, dict):
            raise CopyError("live must hold run, predicted, confidence, latency_ms")
        try:
            answer = LiveAnswer(
                run=str(live["run"]),
                predicted=[int(p) for p in live["predicted"]],
                confidence=[float(c) for c in live["confidence"]],
                latency_ms=float(live["latency_ms"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CopyError(
                f"live must hold run, predicted, confidence, latency_ms: {exc}"
            ) from exc
        if not len(answer.predicted) == len(answer.confidence) == len(texts):
            raise CopyError("live.predicted and live.confidence need one entry per text")
        return cls(texts=texts, strategy=strategy, live=answer)


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    global _state
    _state = reload_if_due(settings, _state)  # a candidate that S3 failed at init, once due
    if _state.predictor is None:
        log.error("shadow copy not compared", extra={"reason": f"no model: {_state.error}"})
        return {"error": f"no verified candidate model is loaded: {_state.error}"}
    try:
        copy = Copy.parse(event, settings.max_texts)
    except CopyError as exc:
        log.error("shadow copy refused", extra={"reason": str(exc)})
        return {"error": str(exc)}
    predictor = _state.predictor
    output = predictor.run(copy.texts, copy.strategy)
    values = compare(
        copy.live,
        output.probs,
        [r.num_tokens for r in output.readings],
        output.tokenize_ms + output.inference_ms,
    )
    fields: dict[str, Any] = {CANDIDATE_DIMENSION: predictor.version, **values}
    if settings.monitoring_namespace:
        units = {n: "Milliseconds" for n in values if n.endswith("_ms")}
        fields = emf_fields(
            settings.monitoring_namespace, {CANDIDATE_DIMENSION: predictor.version}, values, units
        )
    log.info("shadow comparison", extra={**fields, "live_run": copy.live.run})
    return {"candidate": predictor.version, "live": copy.live.run, **values}
