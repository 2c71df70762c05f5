"""A sequence classifier that reads the mean of the token vectors instead of the [CLS] one.

Sentence-transformers checkpoints such as the embedded all-MiniLM-L6-v2 were trained to put the
meaning of a text in the mean of their token vectors (their `1_Pooling/config.json` says so);
their [CLS] vector and pooler were never trained for it. Fine-tuned from the mean, the classifier
starts from a representation that already separates sentiment, and learns it from fewer reviews,
which is what a CPU time budget is short of (README, "make run per CPU kind", has the figures).

The checkpoint saved under hf/ records `classifier_pooling: "mean"` in config.json (the field
ModernBERT uses for the same choice); `load_model` reads it back into this class.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from transformers import BertModel, BertPreTrainedModel, PretrainedConfig
from transformers.modeling_outputs import SequenceClassifierOutput

Pooling = Literal["auto", "cls", "mean"]
# The model types this class can wrap: the BERT encoder with its weight names.
MEAN_POOLING_TYPES = frozenset({"bert"})


class PoolingError(ValueError):
    """A pooling this checkpoint cannot be fine-tuned with; the message says what to pass."""


def sentence_transformers_pooling(model_dir: str | Path) -> str | None:
    """'mean' or 'cls' when `model_dir` is a sentence-transformers checkpoint that says which
    pooling it was trained with; None when it is not one (or says something else)."""
    root = Path(model_dir)
    try:
        modules = json.loads((root / "modules.json").read_text())
        pooling_dir = next(m["path"] for m in modules if m["type"].endswith(".Pooling"))
        config = json.loads((root / pooling_dir / "config.json").read_text())
    except (OSError, ValueError, KeyError, StopIteration, TypeError):
        return None
    if config.get("pooling_mode_mean_tokens"):
        return "mean"
    if config.get("pooling_mode_cls_token"):
        return "cls"
    return None


def resolve_pooling(requested: Pooling, model_dir: str, config: PretrainedConfig) -> str:
    """The pooling to fine-tune with. 'auto': what a saved fine-tuned checkpoint recorded, else
    what a sentence-transformers checkpoint was trained with when this class can wrap it, else
    [CLS] (what AutoModelForSequenceClassification does)."""
    saved = getattr(config, "classifier_pooling", None)
    if requested == "auto":
        if saved in ("mean", "cls"):
            return saved
        trained = sentence_transformers_pooling(model_dir)
        return "mean" if trained == "mean" and config.model_type in MEAN_POOLING_TYPES else "cls"
    if requested == "mean" and config.model_type not in MEAN_POOLING_TYPES:
        raise PoolingError(
            f"--pooling mean supports model types {sorted(MEAN_POOLING_TYPES)}, and "
            f"{model_dir!r} is {config.model_type!r}; use --pooling cls (or auto)"
        )
    return requested


class MeanPoolingBertForSequenceClassification(BertPreTrainedModel):
    """BERT encoder, masked mean of the last hidden states, dropout, one linear layer."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        config.classifier_pooling = "mean"
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        dropout = getattr(config, "classifier_dropout", None)
        self.dropout = nn.Dropout(config.hidden_dropout_prob if dropout is None else dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> SequenceClassifierOutput:
        hidden, mask = self._hidden_and_mask(input_ids, attention_mask, token_type_ids)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        logits = self.classifier(self.dropout(pooled))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def _hidden_and_mask(
        self,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        token_type_ids: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The last hidden states [b, s, h] and the mask of real tokens [b, s, 1]."""
        hidden = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        if attention_mask is None:
            return hidden, torch.ones_like(hidden[..., :1])
        return hidden, attention_mask.unsqueeze(-1).to(hidden.dtype)

    def logits_and_token_logits(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The logits [b, labels], and their split over the tokens [b, s, labels] (eval mode:
        no dropout). The classifier is linear, so W·mean(h) + b is the sum over the tokens of
        W·h_i / n, plus b: the export writes that split as a second graph output, from the
        same forward pass, which `make bench-explain` measures as a rival to the served
        evidence (README, "Evidence")."""
        hidden, mask = self._hidden_and_mask(input_ids, attention_mask, token_type_ids)
        count = mask.sum(dim=1, keepdim=True).clamp(min=1e-9)
        logits = self.classifier((hidden * mask).sum(dim=1) / count.squeeze(1))
        token_logits = (hidden @ self.classifier.weight.T) * (mask / count)
        return logits, token_logits
