"""Data checks run by preprocess before any split is written: enough classes, enough documents of each class in
every split, non-empty validation and test splits, Arabic text, few duplicates, and the class shares compared with
those of the corpus the current champion came from (drift).

Each check is a :class:`Check` (name, measured value, limit, passed); :func:`enforce` turns the failed ones into
one :class:`~pipeline.data.jsonl.DataError` line naming each check and its numbers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from pipeline.config import ChecksParams
from pipeline.data.jsonl import DataError

log = logging.getLogger("checks")
SPLITS = ("train", "val", "test")
DISTRIBUTION_TAG = "label_distribution"  # registry version tag: class shares of its corpus


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    value: Any
    limit: Any
    message: str


def class_checks(class_counts: Mapping[str, Mapping[str, int]], cp: ChecksParams) -> list[Check]:
    """Classes with documents, documents per class in every split, non-empty val and test.

    ``class_counts`` is ``{split: {label: documents}}`` over every label of the class map."""
    labels = list(next(iter(class_counts.values()), {}))
    totals = {lab: sum(class_counts.get(s, {}).get(lab, 0) for s in SPLITS) for lab in labels}
    present = [lab for lab, n in totals.items() if n > 0]
    out = [
        Check(
            "min_classes",
            len(present) >= cp.min_classes,
            len(present),
            cp.min_classes,
            f"{len(present)} class(es) with documents ({', '.join(present) or 'none'}), "
            f"checks.min_classes is {cp.min_classes}",
        )
    ]
    empty = [s for s in ("val", "test") if not sum(class_counts.get(s, {}).values())]
    out.append(
        Check(
            "val_test_not_empty",
            not empty,
            {s: sum(class_counts.get(s, {}).values()) for s in ("val", "test")},
            ">= 1",
            f"split(s) {', '.join(empty)} empty after deduplication" if empty else "val and test have documents",
        )
    )
    short = [
        f"{lab} {class_counts.get(s, {}).get(lab, 0)} in {s}"
        for lab in present
        for s in SPLITS
        if class_counts.get(s, {}).get(lab, 0) < cp.min_per_class
    ]
    low = min((class_counts.get(s, {}).get(lab, 0) for lab in present for s in SPLITS), default=0)
    out.append(
        Check(
            "min_per_class",
            not short,
            low,
            cp.min_per_class,
            f"too few documents per class ({', '.join(short)}), checks.min_per_class is {cp.min_per_class}"
            if short
            else f"every class has >= {cp.min_per_class} documents in each split",
        )
    )
    return out


def duplicate_check(duplicates: int, usable: int, cp: ChecksParams) -> Check:
    """Share of usable documents dropped as exact duplicates."""
    ratio = round(duplicates / usable, 4) if usable else 0.0
    return Check(
        "max_duplicate_ratio",
        ratio <= cp.max_duplicate_ratio,
        ratio,
        cp.max_duplicate_ratio,
        f"duplicate ratio {ratio:.4f} ({duplicates} of {usable} documents), "
        f"checks.max_duplicate_ratio is {cp.max_duplicate_ratio}",
    )


def is_arabic(token: str) -> bool:
    """A token with a letter of the Arabic blocks (U+0600–06FF, 0750–077F, 08A0–08FF, FB50–FDFF, FE70–FEFF)."""
    return any(
        "\u0600" <= ch <= "\u06ff"
        or "\u0750" <= ch <= "\u077f"
        or "\u08a0" <= ch <= "\u08ff"
        or "\ufb50" <= ch <= "\ufdff"
        or "\ufe70" <= ch <= "\ufeff"
        for ch in token
    )


def arabic_counts(counts: Mapping[str, int]) -> tuple[int, int]:
    """(Arabic-script word tokens, word tokens) of a token → count mapping; a word token has a letter."""
    arabic = words = 0
    for t, n in counts.items():
        if any(ch.isalpha() for ch in t):
            words += n
            arabic += n if is_arabic(t) else 0
    return arabic, words


def arabic_check(arabic: int, words: int, cp: ChecksParams) -> Check:
    share = round(arabic / words, 4) if words else 0.0
    return Check(
        "min_arabic_share",
        share >= cp.min_arabic_share,
        share,
        cp.min_arabic_share,
        f"Arabic-script share of word tokens {share:.4f} ({arabic} of {words}), "
        f"checks.min_arabic_share is {cp.min_arabic_share}",
    )


def shares(counts: Mapping[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {lab: round(n / total, 4) if total else 0.0 for lab, n in counts.items()}


def drift_check(current: Mapping[str, float], previous: Mapping[str, float] | None, cp: ChecksParams) -> Check:
    """Total-variation distance between the class shares and the previous ones (the champion's training data)."""
    if previous is None:
        return Check("max_label_drift", True, None, cp.max_label_drift, "no previous class shares (no champion)")
    labels = set(current) | set(previous)
    tvd = round(0.5 * sum(abs(current.get(k, 0.0) - previous.get(k, 0.0)) for k in labels), 4)
    return Check(
        "max_label_drift",
        tvd <= cp.max_label_drift,
        tvd,
        cp.max_label_drift,
        f"class shares drifted by {tvd:.4f} (total variation) from the champion's {dict(previous)} to "
        f"{dict(current)}, checks.max_label_drift is {cp.max_label_drift}",
    )


def previous_shares(tracking_uri: str, model_name: str, alias: str) -> dict[str, float] | None:
    """The class shares of the corpus of the registry's ``alias`` version (its ``label_distribution`` tag), if any."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    try:
        version = client.get_model_version_by_alias(model_name, alias)
    except mlflow.exceptions.MlflowException:
        return None
    raw = version.tags.get(DISTRIBUTION_TAG)
    try:
        return {str(k): float(v) for k, v in json.loads(raw).items()} if raw else None
    except (ValueError, AttributeError):
        log.warning("%s@%s: unreadable %s tag %r, drift not measured", model_name, alias, DISTRIBUTION_TAG, raw)
        return None


def report(checks: Iterable[Check]) -> dict[str, Any]:
    """The JSON form: ``{"passed": bool, "checks": {name: {passed, value, limit, message}}}``."""
    items = {c.name: {k: v for k, v in asdict(c).items() if k != "name"} for c in checks}
    return {"passed": all(c["passed"] for c in items.values()), "checks": items}


def enforce(checks: Iterable[Check], source: str) -> None:
    """Raise one :class:`DataError` line naming every failed check with its numbers."""
    failed = [c for c in checks if not c.passed]
    if failed:
        detail = "; ".join(f"{c.name}: {c.message}" for c in failed)
        raise DataError(f"{source}: data check(s) failed: {detail}")
