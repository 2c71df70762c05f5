"""The parity gate: may an exported ONNX model stand in for the torch model it came from?

Decided from the paired predictions on the held-out test split, with two exact one-sided binomial
tests at the same significance level:

1. Accuracy (McNemar's exact test). Only the reviews where the two models disagree tell them
   apart: `b` that torch gets right and ONNX wrong, `c` the reverse. If the export costs no
   accuracy, each of those n = b + c reviews is equally likely to go either way, so
   b ~ Binomial(n, 1/2); p = P(X >= b). The export fails when p < alpha AND the observed drop,
   (b - c) / test size, exceeds `max_accuracy_drop`: significant and big enough to matter.
2. Agreement (the guard). McNemar alone cannot see an export that is wrong in both directions
   alike, which happens whenever torch itself is near chance (a tiny or badly trained model):
   a broken export then loses nothing on average. So the flip rate is tested too:
   flips ~ Binomial(test size, max_agreement_loss) if the export is healthy; p = P(X >= flips).
   The export fails when p < alpha.

Why not a fixed point count: a healthy int8 model flips a handful of reviews that sit near 0.5,
which ones depending on the CPU kind, and a fixed gate fails such a run on chance; a broken
export flips hundreds (README, "The parity gate").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from training.stats import binomial_tail, discordant, mcnemar_p

RULE = (
    "fail if (McNemar exact one-sided p < alpha and accuracy drop > max_accuracy_drop) "
    "or (flip rate above max_agreement_loss with binomial exact one-sided p < alpha)"
)


class ParityError(RuntimeError):
    """Every exported model disagrees with torch beyond the gate: nothing is published."""


@dataclass(frozen=True)
class ParityGate:
    alpha: float
    max_accuracy_drop: float
    max_agreement_loss: float


@dataclass
class Parity:
    """The paired comparison of one exported model with torch, and the gate's decision."""

    precision: str
    n: int
    agreement: float
    accuracy_torch: float
    accuracy_onnx: float
    max_abs_prob_diff: float
    torch_only_correct: int  # b: torch right, ONNX wrong
    onnx_only_correct: int  # c: ONNX right, torch wrong
    mcnemar_p: float
    flip_p: float
    passed: bool
    reasons: list[str]
    alpha: float
    max_accuracy_drop: float
    max_agreement_loss: float
    rule: str = RULE

    @property
    def accuracy_drop(self) -> float:
        return self.accuracy_torch - self.accuracy_onnx

    @property
    def flips(self) -> int:
        return self.torch_only_correct + self.onnx_only_correct

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"accuracy_drop": self.accuracy_drop, "flips": self.flips}

    def summary(self) -> str:
        return (
            f"{self.precision}: {self.flips} of {self.n} predictions differ from torch "
            f"({self.torch_only_correct} now wrong, {self.onnx_only_correct} now right), "
            f"accuracy {self.accuracy_torch:.2%} -> {self.accuracy_onnx:.2%}; "
            f"McNemar p = {self.mcnemar_p:.3g}, flip-rate p = {self.flip_p:.3g}, alpha "
            f"{self.alpha:g}: {'pass' if self.passed else 'FAIL (' + '; '.join(self.reasons) + ')'}"
        )


def parity(
    torch_probs: np.ndarray,
    onnx_probs: np.ndarray,
    labels: np.ndarray,
    gate: ParityGate,
    precision: str = "int8",
) -> Parity:
    t, o = torch_probs.argmax(-1), onnx_probs.argmax(-1)
    n = len(labels)
    b, c = discordant(t == labels, o == labels)
    flips = int((t != o).sum())  # with more than two labels a flip can be wrong both times
    mcnemar = mcnemar_p(b, c)
    flip_p = binomial_tail(flips, n, gate.max_agreement_loss)
    drop = (b - c) / n if n else 0.0
    reasons = []
    # Shares of a finite test set: compare with a tolerance, or 5 of 1,000 is not 0.5 %.
    if mcnemar < gate.alpha and drop > gate.max_accuracy_drop + 1e-9:
        reasons.append(
            f"accuracy drop {drop * 100:.2f} points is significant (McNemar p = "
            f"{mcnemar:.3g} < {gate.alpha:g}) and above {gate.max_accuracy_drop * 100:.2f}"
        )
    if flip_p < gate.alpha:
        reasons.append(
            f"{flips} of {n} predictions flipped, significantly more than "
            f"{gate.max_agreement_loss:.1%} (p = {flip_p:.3g} < {gate.alpha:g})"
        )
    return Parity(
        precision=precision,
        n=n,
        agreement=1 - flips / n if n else 1.0,
        accuracy_torch=float((t == labels).mean()) if n else 0.0,
        accuracy_onnx=float((o == labels).mean()) if n else 0.0,
        max_abs_prob_diff=float(np.abs(torch_probs - onnx_probs).max()) if n else 0.0,
        torch_only_correct=b,
        onnx_only_correct=c,
        mcnemar_p=mcnemar,
        flip_p=flip_p,
        passed=not reasons,
        reasons=reasons,
        alpha=gate.alpha,
        max_accuracy_drop=gate.max_accuracy_drop,
        max_agreement_loss=gate.max_agreement_loss,
    )
