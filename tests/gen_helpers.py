"""Helpers for the generation tests: a tiny processed corpus written straight to data/processed."""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.conftest import NEGATIVE, NEUTRAL, POSITIVE

LABELS = ["negative", "neutral", "positive"]
BANKS = {"negative": NEGATIVE, "neutral": NEUTRAL, "positive": POSITIVE}
OPENINGS = ["الطعام في هذا المطعم كان", "الغرفة في الفندق كانت", "هذه الرواية", "اشتريت هذا الهاتف وكان"]


def make_rows(n: int, seed: int = 0, extra: str = "") -> list[dict]:
    """Split rows as the preprocess stage writes them (tokens are the plain words)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        y = i % 3
        label = LABELS[y]
        words = rng.choices(BANKS[label], k=5)
        text = f"{rng.choice(OPENINGS)} {' '.join(words)} {extra} والخدمة {' '.join(rng.choices(BANKS[label], k=3))}."
        rows.append(
            {
                "id": f"{seed}-{i:04d}",
                "url": f"http://x/{seed}/{i}",
                "title": "",
                "text": " ".join(text.split()),
                "score": float(2 + 3 * y),
                "label": y,
                "label_name": label,
                "group": f"{seed}-{i:04d}",
                "tokens": text.split(),
            }
        )
    return rows


def write_processed(root: Path, n_train: int = 60, n_eval: int = 24, val_extra: str = "") -> Path:
    """``data/processed`` with train/val/test splits and classes.json."""
    out = root / "data" / "processed"
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (
        ("train", make_rows(n_train, 1)),
        ("val", make_rows(n_eval, 2, val_extra)),
        ("test", make_rows(n_eval, 3)),
    ):
        (out / f"{name}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
    (out / "classes.json").write_text(json.dumps({"labels": LABELS}), encoding="utf-8")
    return out
