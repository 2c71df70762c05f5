"""Request and response bodies, and the JSON Schema they publish in the OpenAPI document.

The document states every rule the code enforces. A rule is written once and both the check and
the schema read it (`VISIBLE` below). A bound that comes from Settings (texts per request,
characters per text) is marked in the schema with `LIMIT` and the Settings field's name;
`function/openapi.py` writes the running app's value there. Over such a bound answers 413
(`function.deps.check_limits`); anything else malformed answers 422."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from contract.bundle import Precision
from contract.encoder import Strategy  # how a long text is read, per request
from function.setting_bounds import EXPLAIN_TOP_K_DEFAULT

# A text is readable when it holds one character that is not whitespace, a control character
# or an invisible format character (soft hyphen, zero-width space, bidi marks, BOM): Unicode's
# Cc, Cf, Zs, Zl and Zp in the Basic Multilingual Plane. Written as a character class in the
# syntax Python's `re` and ECMA-262 (JSON Schema's `pattern`) both read, so the check and the
# published schema cannot drift apart. Format characters beyond the BMP (tag characters,
# hieroglyph controls) have no escape both syntaxes share, and unassigned or private-use code
# points are text the tokenizer reads: they all count as visible.
_INVISIBLE = (
    r"\u0000-\u0020\u007f-\u00a0\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2"
    r"\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u2064\u2066-\u206f\u3000\ufeff\ufff9-\ufffb"
)
VISIBLE = f"[^{_INVISIBLE}]"
_VISIBLE = re.compile(VISIBLE)

# The schema keyword that names the Settings field bounding a value (see the module docstring).
LIMIT = "x-settings-limit"

TEXT_SCHEMA: dict[str, Any] = {
    "description": "A text with a visible character: not only whitespace, control or "
    "format characters.",
    "type": "string",
    "minLength": 1,
    "pattern": VISIBLE,
    LIMIT: "max_chars",
}
TEXTS_SCHEMA: dict[str, Any] = {
    "anyOf": [
        TEXT_SCHEMA,
        {"type": "array", "items": TEXT_SCHEMA, "minItems": 1, LIMIT: "max_texts"},
    ]
}


def _check_texts(value: object) -> object:
    """One clear message per mistake, instead of one per branch of `str | list[str]`. A number
    or an object is never turned into a review."""
    if isinstance(value, list):
        if not value:
            raise ValueError("must be a string or a non-empty list of strings, got an empty list")
        texts = value
    elif isinstance(value, str):
        texts = [value]
    else:
        kind = "null" if value is None else type(value).__name__
        raise ValueError(f"must be a string or a non-empty list of strings, got {kind}")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            kind = "null" if text is None else type(text).__name__
            raise ValueError(f"text {i} must be a string, got {kind}")
        # search() stops at the first visible character: cheap for real text.
        if not _VISIBLE.search(text):
            raise ValueError(f"text {i} is empty or whitespace only")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:  # JSON can carry lone surrogates ("\ud800")
            raise ValueError(f"text {i} is not valid Unicode: {exc.reason}") from None
    return value


Texts = Annotated[str | list[str], BeforeValidator(_check_texts), WithJsonSchema(TEXTS_SCHEMA)]


# A request model takes JSON's types as its schema states them (`strict=True`): lax pydantic
# would read "0.5" or true as a number, which the published document says is refused.
def integral(value: object) -> object:
    """JSON Schema's integer includes 2.0, which strict pydantic refuses: use as
    `Annotated[int, Field(ge=...), BeforeValidator(integral)]`, the Field first (after a
    validator, pydantic writes `ge` into the JSON Schema instead of `minimum`)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    text: Texts = Field(
        description="One review, or a list of reviews (at most MAX_TEXTS, each at most "
        "MAX_CHARS characters). Each is answered exactly as it would be alone: no model run "
        "holds two texts.",
        examples=["A moving, beautifully shot film.", ["Loved it.", "A waste of two hours."]],
    )

    strategy: Strategy | None = Field(
        default=None,
        description="How a text longer than the model's window is read: 'head+tail' (its first "
        "and last tokens, as the model was trained), 'head', 'tail', or 'chunks' (overlapping "
        "windows over the whole text, combined; each window counts against MAX_WINDOWS per "
        "request, 413 past it). null: the server's LONG_TEXT_STRATEGY.",
    )
    min_confidence: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Mark a prediction whose score is below this as uncertain (its label "
        "stays the most likely one). null marks none.",
    )
    explain: bool = Field(
        default=False,
        description="Return each prediction's evidence: the words that moved it, where the "
        "model read, and for 'chunks' each window's own verdict. It costs a few more passes of "
        "the model per window, and each explained window counts that many times against "
        "MAX_WINDOWS.",
    )
    explain_top_k: (
        Annotated[
            int,
            Field(ge=1, json_schema_extra={LIMIT: "max_explain_top_k"}),
            BeforeValidator(integral),
        ]
        | None
    ) = Field(
        default=None,
        description="With explain: how many words or phrases to return, strongest first (at "
        f"most MAX_EXPLAIN_TOP_K; 413 past it). null: {EXPLAIN_TOP_K_DEFAULT}, or "
        "MAX_EXPLAIN_TOP_K when that is lower.",
    )

    @property
    def texts(self) -> list[str]:
        return [self.text] if isinstance(self.text, str) else self.text


class Prediction(BaseModel):
    label: str = Field(description="The most likely label.")
    score: float = Field(
        ge=0,
        le=1,
        description="Its probability: softmax of the logits divided by the bundle's temperature, "
        "calibrated on held-out reviews when training fitted one.",
    )
    scores: dict[str, float] = Field(description="The probability of every label; sums to 1.")
    uncertain: bool = Field(
        description="The score is below the request's min_confidence (false without one)."
    )
    num_tokens: int = Field(ge=0, description="Tokens in the whole text (special tokens excluded).")
    truncated: bool = Field(description="Whether some of the text was not read.")
    strategy: Strategy = Field(description="How the text was read.")
    windows: int = Field(ge=1, description="Model windows read (more than 1 only for 'chunks').")
    evidence: Evidence | None = Field(
        default=None, description="Why this label; only when the request asked to explain."
    )


class CharRange(BaseModel):
    start: int = Field(ge=0, description="First character, counted in Unicode code points.")
    end: int = Field(ge=0, description="One past the last character.")


class EvidenceSpan(CharRange):
    text: str = Field(description="The text's own characters in [start, end).")
    weight: float = Field(
        description="Which way and how hard these words push: positive toward the predicted "
        "label, negative against it. The model's logit margin for that label (its logit minus "
        "the mean of the others) when it reads the words alone; a phrase's is its words' mean "
        "(README, 'Evidence')."
    )


class WindowVerdict(CharRange):
    label: str = Field(description="This window's own most likely label.")
    score: float = Field(ge=0, le=1, description="Its calibrated probability in this window.")


class Evidence(BaseModel):
    method: str = Field(description="How the weights were computed (README, 'Evidence').")
    spans: list[EvidenceSpan] = Field(
        description="The words and phrases that moved the prediction most, strongest first; "
        "offsets into the text as sent. Not every word: at most explain_top_k. A word is what a "
        "reader calls one: punctuation stands alone ('great', '!') except inside a word "
        "(didn't, well-made) or a number (7.5, 1,000, 3/10)."
    )
    read: list[CharRange] = Field(
        description="The parts of the text the model read; the rest was cut to fit its "
        "window (see strategy)."
    )
    windows: list[WindowVerdict] = Field(
        description="Each model window with its own verdict (one for every strategy but 'chunks')."
    )
    mixed: bool = Field(
        description="Windows whose score reaches min_confidence (the server's "
        "CONFIDENCE_FLOOR without one) disagree on the label: parts of the review say "
        "different things."
    )


class PredictResponse(BaseModel):
    model_version: str = Field(description="The run id of the bundle that answered.")
    predictions: list[Prediction]


class HFParameters(BaseModel):
    # Hugging Face clients may send parameters we do not use (truncation, ...): accept them.
    model_config = ConfigDict(extra="ignore", strict=True)

    top_k: Annotated[int, Field(ge=1), BeforeValidator(integral)] | None = Field(
        default=None, description="Return the k best labels; null returns every label."
    )
    function_to_apply: Literal["softmax", "sigmoid", "none"] | None = Field(
        default=None, description="How logits become scores; null means softmax."
    )


class HFRequest(BaseModel):
    """The Hugging Face Inference API text-classification request."""

    # extra: e.g. "options": {"wait_for_model": true}
    model_config = ConfigDict(extra="ignore", strict=True)

    inputs: Texts = Field(
        description="One text or a list of texts, each answered exactly as it would be alone.",
        examples=["A moving, beautifully shot film."],
    )
    parameters: HFParameters | None = None

    @property
    def texts(self) -> list[str]:
        return [self.inputs] if isinstance(self.inputs, str) else self.inputs


class HFLabelScore(BaseModel):
    label: str
    score: float


class ModelInfo(BaseModel):
    model_version: str
    base_model: str
    labels: list[str]
    encoder: dict[str, Any] = Field(
        description="How text becomes ids: max_length, truncation, head_tokens, and markup "
        "('text': web markup and typographic punctuation are read as the plain text they "
        "stand for, by rules in the bundle's tokenizer; absent or 'keep': read as typed)."
    )
    metrics: dict[str, Any]
    created_at: str
    format_version: int
    source: str = Field(description="The MODEL_URI the bundle was loaded from.")
    model_file: str = Field(description="The ONNX file of the bundle being served.")
    precision: Precision = Field(
        description="int8, or fp32 when int8 failed the training job's parity gate."
    )
    precision_reason: str = Field(
        description="Why this precision is served (empty for bundles that predate the field)."
    )


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    live: bool = True
    ready: bool = Field(description="A model is loaded and every file's sha256 verified.")
    model_version: str | None = None
    error: str | None = None
    error_type: str | None = None


class ErrorBody(BaseModel):
    error: str
    error_type: str
