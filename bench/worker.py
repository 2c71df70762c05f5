"""One side of the serving benchmark in a fresh process: `python -m bench.worker SIDE BUNDLE
HF_MODEL INPUTS START MODE`, spawned by `bench.serving`, which reads the last `WORKER {json}`
line it prints.

Cold start runs from the parent's clock just before the spawn to the first prediction, so
this module imports only what the interpreter has already loaded before the side under test:
the harness's own imports would add the same constant to both sides and shrink the ratio.
"""

import json
import os
import sys
import time


def _predict_event(text: str) -> dict:
    """The shipped API Gateway HTTP API (v2) predict event, carrying `text`."""
    path = os.path.join(os.path.dirname(__file__), "..", "events", "apigw-v2-predict.json")
    with open(path, encoding="utf-8") as fh:
        event = json.load(fh)
    return {**event, "body": json.dumps({"text": text}), "isBase64Encoded": False}


def _peer_model(hf_model: str) -> object:
    """The fine-tuned checkpoint as torch serves it. A mean-pooled one (config.json says
    classifier_pooling "mean") needs its class, which imports only torch and transformers;
    AutoModelForSequenceClassification would read it through an untrained [CLS] pooler."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    if getattr(AutoConfig.from_pretrained(hf_model), "classifier_pooling", None) == "mean":
        from training.pooling import MeanPoolingBertForSequenceClassification

        return MeanPoolingBertForSequenceClassification.from_pretrained(hf_model)
    return AutoModelForSequenceClassification.from_pretrained(hf_model)


def run(side: str, bundle: str, hf_model: str, inputs: str, start: float, full: bool) -> dict:
    """The reviews come in a small file: reading the 33,000-review CSV here would add its time
    to the cold start and its memory to the peak RSS of both sides."""
    with open(inputs, encoding="utf-8") as fh:
        data = json.load(fh)
    text = data["median"]
    if side == "floor":
        # What any app on the stack pays before it does anything: the interpreter and
        # the imports of FastAPI, Mangum, pydantic-settings, ONNX Runtime and tokenizers.
        import fastapi  # noqa: F401
        import mangum  # noqa: F401
        import onnxruntime  # noqa: F401
        import pydantic_settings  # noqa: F401
        import tokenizers  # noqa: F401

        return {"cold_start_s": time.time() - start}
    if side == "ours":
        os.environ["MODEL_URI"] = bundle
        os.environ.setdefault("LOG_LEVEL", "WARNING")
        from function.handler import app, handler  # the Lambda entry point, as Lambda loads it

        response = handler(_predict_event(text), None)
        assert response["statusCode"] == 200, response["body"]
        cold = time.time() - start
        predictor = app.state.model.predictor

        def one(texts: list[str]) -> object:
            return predictor.run(texts)

        batch_calls = {"ours": one}
    else:
        from transformers import pipeline

        with open(os.path.join(bundle, "manifest.json"), encoding="utf-8") as fh:
            max_length = json.load(fh)["encoder"]["max_length"]
        pipe = pipeline("text-classification", model=_peer_model(hf_model), tokenizer=hf_model,
                        device="cpu")  # fmt: skip
        kwargs = {"truncation": True, "max_length": max_length}
        pipe(text, **kwargs)
        cold = time.time() - start

        def one(texts: list[str]) -> object:
            return pipe(texts, **kwargs)

        def batched(texts: list[str]) -> object:
            return pipe(texts, batch_size=len(texts), **kwargs)

        # Measured both as the serverless samples call it (the pipeline's default, one text at
        # a time) and with batch_size=32; the faster of the two is the figure to beat.
        batch_calls = {"pipeline default (one at a time)": one, "batch_size=32": batched}

    result: dict = {"cold_start_s": cold}
    if not full:
        return result
    import resource
    import statistics

    repeats = data.get("warm_repeats", 100)
    for _ in range(min(5, repeats)):
        one([text])
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        one([text])
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    batches = data["batches"]
    by_mode = {}
    for mode, call in batch_calls.items():
        call(batches[0])  # warm-up
        t = time.perf_counter()
        for b in batches[1:]:
            call(b)
        by_mode[mode] = sum(map(len, batches[1:])) / (time.perf_counter() - t)
    result.update(
        warm_p50_ms=statistics.median(times),
        warm_p95_ms=times[max(0, int(0.95 * len(times)) - 1)],
        batch_reviews_per_s=max(by_mode.values()),
        **({f"batch_reviews_per_s[{m}]": v for m, v in by_mode.items()} if side == "peer" else {}),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    return result


if __name__ == "__main__":
    side, bundle, hf_model, inputs, start, mode = sys.argv[1:7]
    out = run(side, bundle, hf_model, inputs, float(start), mode == "full")
    sys.stdout.write("WORKER " + json.dumps(out) + "\n")
