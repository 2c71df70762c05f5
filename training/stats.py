"""The exact tests the gates decide with: the binomial tail, and McNemar's exact one-sided test
on paired predictions (parity, the long-text default, the Platt check)."""

from __future__ import annotations

import math

import numpy as np


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), exact (sums in log space: n may be tens of thousands)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1)
        - math.lgamma(i + 1)
        - math.lgamma(n - i + 1)
        + i * log_p
        + (n - i) * log_q
        for i in range(k, n + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def discordant(challenger_right: np.ndarray, base_right: np.ndarray) -> tuple[int, int]:
    """(challenger right where the base is wrong, the reverse): the pairs McNemar reads."""
    return (
        int((challenger_right & ~base_right).sum()),
        int((base_right & ~challenger_right).sum()),
    )


def mcnemar_p(wins: int, losses: int) -> float:
    """McNemar's exact one-sided p: if neither side is better, each of the wins + losses
    discordant pairs goes either way with probability 1/2; p = P(X >= wins)."""
    return binomial_tail(wins, wins + losses, 0.5)
