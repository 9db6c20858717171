"""Language-model and generation metrics: perplexity, BLEU/chrF (sacrebleu), distinct-n."""

from __future__ import annotations

import math
from collections.abc import Sequence

MAX_LOG_PERPLEXITY = 700.0  # math.exp overflows a float a little above 709


def perplexity(mean_loss: float) -> float:
    """``exp(mean loss)``; ``inf`` (never an OverflowError) when the loss is too large, infinite or NaN."""
    if not math.isfinite(mean_loss) or mean_loss > MAX_LOG_PERPLEXITY:
        return math.inf
    return math.exp(mean_loss)


def finite_or_none(value: float) -> float | None:
    """For JSON: a non-finite figure becomes null."""
    return value if math.isfinite(value) else None


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct word n-grams over all n-grams of ``texts`` (0 when there is none)."""
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        words = text.split()
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        seen.update(grams)
        total += len(grams)
    return len(seen) / total if total else 0.0


def bleu_chrf(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, float]:
    """Corpus BLEU and chrF (sacrebleu, 0–100) of ``hypotheses`` against one reference each."""
    import sacrebleu

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    if not hypotheses:
        return 0.0, 0.0
    refs = [list(references)]
    return (
        float(sacrebleu.corpus_bleu(list(hypotheses), refs).score),
        float(sacrebleu.corpus_chrf(list(hypotheses), refs).score),
    )
