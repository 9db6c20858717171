"""The champion/challenger gate of the register stage.

The challenger (this run's selected classifier) may take the registry alias only if

1. its test macro-F1 beats the best linear floor of the same run (``tfidf_linear``, ``tfidf_char_word``, ``nbsvm``:
   whichever were trained; a challenger that is itself a floor is not held to it) and reaches
   ``registry.min_f1_macro``; and
2. it is not worse than the current champion re-scored on the **same** new test split: McNemar's test
   (:func:`pipeline.evaluation.stats.mcnemar`) on the two models' paired right/wrong answers calls it ``better``,
   ``same`` or ``worse`` at ``registry.significance_level``; ``registry.promote_on`` says whether ``same`` is enough.

The decision is ``first`` (no champion yet: the challenger becomes it), ``promoted`` or ``kept``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.config import RegistryParams
from pipeline.evaluation.stats import mcnemar
from pipeline.models.registry import floors


@dataclass(frozen=True)
class Decision:
    decision: str  # first | promoted | kept
    reason: str
    champion_version: str | None
    challenger_version: str
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def moves_alias(self) -> bool:
        return self.decision in ("first", "promoted")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def macro_f1(true: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> float:
    """Macro-F1 over ``labels`` of predicted label names (a name outside ``labels`` is simply wrong)."""
    from sklearn.metrics import f1_score

    return round(float(f1_score(list(true), list(pred), labels=list(labels), average="macro", zero_division=0)), 4)


def floor_failure(
    arch: str, f1: float, floor: float | None, reg: RegistryParams, floor_arch: str | None = None
) -> str | None:
    """Why the challenger misses the absolute bars, or None when it clears them."""
    if floor is not None and arch not in floors([arch]) and not f1 > floor:
        return f"challenger {arch} test macro-F1 {f1:.4f} does not beat the {floor_arch or 'linear'} floor {floor:.4f}"
    if f1 < reg.min_f1_macro:
        return f"challenger {arch} test macro-F1 {f1:.4f} is below registry.min_f1_macro {reg.min_f1_macro}"
    return None


def verdict(challenger_ok: Sequence[bool], champion_ok: Sequence[bool], alpha: float, exact_below: int) -> dict:
    """McNemar on the paired right/wrong answers: ``better``, ``same`` or ``worse`` for the challenger."""
    test = mcnemar(challenger_ok, champion_ok, exact_below)
    if test["p_value"] >= alpha:
        test["verdict"] = "same"
    else:
        test["verdict"] = "better" if test["b"] > test["c"] else "worse"
    return test


def decide(
    reg: RegistryParams,
    arch: str,
    challenger_version: str,
    challenger_f1: float,
    floor_f1: float | None,
    champion_version: str | None,
    comparison: dict[str, Any] | None,
    floor_arch: str | None = None,
) -> Decision:
    """The gate's decision from the figures (``comparison`` is :func:`verdict`'s result plus the champion's
    re-scored macro-F1, or ``{"error": ...}`` when the champion could not be re-scored)."""
    figures: dict[str, Any] = {
        "challenger_arch": arch,
        "challenger_f1_macro": challenger_f1,
        "floor_f1_macro": floor_f1,
        "floor_arch": floor_arch,
        "min_f1_macro": reg.min_f1_macro,
        "promote_on": reg.promote_on,
        "significance_level": reg.significance_level,
    }
    if comparison:
        figures["comparison"] = comparison

    def out(decision: str, reason: str) -> Decision:
        return Decision(decision, reason, champion_version, challenger_version, figures)

    missed = floor_failure(arch, challenger_f1, floor_f1, reg, floor_arch)
    if missed:
        return out("kept", missed + (f"; champion stays version {champion_version}" if champion_version else ""))
    if champion_version is None:
        return out("first", f"no champion yet; challenger {arch} (macro-F1 {challenger_f1:.4f}) clears the floor")
    if not comparison or "verdict" not in comparison:
        why = (comparison or {}).get("error", "no comparison")
        return out("kept", f"champion version {champion_version} could not be re-scored ({why})")
    v, p = comparison["verdict"], comparison["p_value"]
    versus = (
        f"challenger {arch} macro-F1 {challenger_f1:.4f} vs champion version {champion_version} "
        f"{comparison['champion_f1_macro']:.4f} on the same {comparison['documents']} test documents; McNemar "
        f"b={comparison['b']} c={comparison['c']} p={p:.4g}: {v}"
    )
    if v == "better" or (v == "same" and reg.promote_on == "same"):
        return out("promoted", versus)
    return out("kept", versus + f" (registry.promote_on is {reg.promote_on})")
