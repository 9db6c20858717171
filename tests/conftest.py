"""Shared fixtures: offline environment, a tiny labelled corpus, repo paths."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pipeline.runtime import apply_thread_policy

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
apply_thread_policy()  # the project's thread policy for the tests' own inference, as the fit applies it to training

POSITIVE = ["رائع", "ممتاز", "جميل", "أنصح", "مريح", "لذيذ", "نظيف", "سريع"]
NEGATIVE = ["سيء", "مخيب", "رديء", "متسخ", "بطيء", "غالي", "مزعج", "بارد"]
NEUTRAL = ["عادي", "مقبول", "متوسط", "لا بأس"]


def make_raw_docs(n: int = 90, seed: int = 0) -> list[dict]:
    """Synthetic raw documents whose words depend on the score (learnable, not trivial)."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        score = i % 11
        bank = POSITIVE if score >= 7 else NEGATIVE if score < 4 else NEUTRAL
        words = rng.choices(bank, k=6) + rng.choices(POSITIVE + NEGATIVE + NEUTRAL, k=3)
        text = "هذا المكان " + " ".join(words) + f" والخدمة رقم {i}"
        docs.append(
            {
                "url": f"http://127.0.0.1/review/{i:03d}.html",
                "title": f"مراجعة {i}",
                "text": text,
                "score": float(score),
                "source": "127.0.0.1",
                "content_hash": f"h{i}",
            }
        )
    return docs


def write_params(path: Path, overrides: dict | None = None) -> None:
    """Write the repo's params.yaml with nested ``overrides`` applied. The ensemble is off unless an override
    turns it on: most tests train a few classifiers and evaluate them without running the ensemble stage."""
    import yaml

    data = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    data.setdefault("ensemble", {})["enabled"] = False
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


@pytest.fixture(autouse=True)
def _no_inherited_tracking_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    """mlflow.set_tracking_uri() exports MLFLOW_TRACKING_URI; never let one test's store leak into the next
    test's subprocesses."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary project directory holding params.yaml; the test runs inside it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    write_params(tmp_path / "params.yaml")
    return tmp_path


@contextmanager
def preprocessed_project(root: Path, overrides: dict, documents: int) -> Iterator[Any]:
    """For module-scoped fixtures: run inside ``root`` (no inherited MLflow URI) with ``params.yaml`` from
    ``overrides`` and ``documents`` synthetic raw documents, preprocessed; yields the params."""
    from pipeline.config import load_params
    from pipeline.data.preprocessing import preprocess

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        write_params(root / "params.yaml", overrides)
        write_raw(root, make_raw_docs(documents))
        params = load_params()
        preprocess(params)
        yield params


def interrupt_at_epoch(epoch: int) -> Any:
    """A Lightning callback that kills a training (``RuntimeError("killed")``) as ``epoch`` starts."""
    import lightning as L

    class Interrupt(L.Callback):
        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            if trainer.current_epoch == epoch:
                raise RuntimeError("killed")

    return Interrupt()


def write_raw(workdir: Path, docs: list[dict]) -> Path:
    raw = workdir / "data" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    path = raw / "docs.jsonl"
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    return path
