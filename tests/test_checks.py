"""Data checks in preprocess: each bad corpus stops the run with one line naming the check and its numbers, and
leaves the processed splits as they were."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pipeline.config import ChecksParams, load_params
from pipeline.data import checks as dc
from pipeline.data.jsonl import DataError
from pipeline.data.preprocessing import preprocess
from tests.conftest import REPO, make_raw_docs, write_params, write_raw

ENGLISH = ["great", "awful", "fine", "tasty", "dirty", "slow", "friendly", "cold", "clean", "noisy"]


def _english(n: int) -> list[dict]:
    return [
        {**d, "text": f"review {i} " + " ".join(ENGLISH[(i + k) % len(ENGLISH)] for k in range(6))}
        for i, d in enumerate(make_raw_docs(n))
    ]


def _fails(workdir, docs, match: str, overrides: dict | None = None) -> dict:
    write_raw(workdir, docs)
    if overrides:
        write_params(workdir / "params.yaml", overrides)
    with pytest.raises(DataError, match=match) as err:
        preprocess(load_params())
    assert "\n" not in str(err.value)
    assert not list((workdir / "data" / "processed").glob("*.jsonl*")), "a failed check wrote splits"
    report = json.loads((workdir / "reports" / "data_checks.json").read_text(encoding="utf-8"))
    assert report["passed"] is False
    return report


def test_good_corpus_passes_and_the_checks_are_recorded(workdir):
    summary = preprocess(load_params()) if write_raw(workdir, make_raw_docs(90)) else None
    assert summary["checks"]["passed"] is True
    checks = summary["checks"]["checks"]
    assert set(checks) == {
        "min_classes", "val_test_not_empty", "min_per_class", "max_duplicate_ratio", "min_arabic_share",
        "max_label_drift",
    }  # fmt: skip
    assert checks["min_classes"]["value"] == 3 and checks["min_arabic_share"]["value"] > 0.9
    assert checks["max_label_drift"]["value"] is None  # no champion yet
    assert sum(summary["label_distribution"].values()) == pytest.approx(1, abs=1e-3)
    on_disk = json.loads((workdir / "reports" / "data_checks.json").read_text(encoding="utf-8"))
    assert on_disk == summary["checks"]


def test_single_class_stops_before_tfidf(workdir):
    docs = [{**d, "score": 9.0} for d in make_raw_docs(60)]
    report = _fails(workdir, docs, r"min_classes: 1 class\(es\) with documents \(positive\), checks.min_classes is 2")
    assert report["checks"]["min_classes"]["value"] == 1


def test_english_only_corpus_fails_the_arabic_share(workdir):
    report = _fails(workdir, _english(90), r"min_arabic_share: Arabic-script share of word tokens 0\.0000")
    assert report["checks"]["min_arabic_share"]["value"] == 0.0


def test_a_corpus_of_duplicates_fails_before_lightning(workdir):
    docs = make_raw_docs(6) * 10  # six texts, each ten times
    docs = [{**d, "url": f"http://127.0.0.1/copy/{i}.html"} for i, d in enumerate(docs)]
    report = _fails(workdir, docs, r"max_duplicate_ratio: duplicate ratio 0\.9000 \(54 of 60 documents\)")
    assert report["checks"]["min_per_class"]["passed"] is False


def test_val_and_test_empty_is_named(workdir):
    docs = make_raw_docs(2) * 2  # two texts: one per class, both in train
    docs = [{**d, "url": f"http://127.0.0.1/copy/{i}.html"} for i, d in enumerate(docs)]
    _fails(workdir, docs, r"val_test_not_empty: split\(s\) val, test empty after deduplication",
           {"checks.min_per_class": 1})  # fmt: skip


def test_a_class_with_two_examples_is_refused(workdir):
    docs = [d for d in make_raw_docs(99) if not 4 <= d["score"] < 7] + make_raw_docs(99)[4:6]  # 2 neutral
    report = _fails(workdir, docs, r"min_per_class: too few documents per class \(neutral [0-2] in ")
    assert report["checks"]["min_per_class"]["value"] <= 1


def test_cli_prints_one_error_line_and_exits_2(workdir):
    write_raw(workdir, [{**d, "score": 1.0} for d in make_raw_docs(30)])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "pipeline", "preprocess"], capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "min_classes" in lines[0] and "Traceback" not in proc.stderr


def test_drift_is_total_variation_against_previous_shares():
    cp = ChecksParams(max_label_drift=0.2)
    same = dc.drift_check({"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}, cp)
    assert same.passed and same.value == 0
    moved = dc.drift_check({"a": 0.9, "b": 0.1}, {"a": 0.5, "b": 0.5}, cp)
    assert not moved.passed and moved.value == pytest.approx(0.4)
    assert "drifted by 0.4000" in moved.message
    new_class = dc.drift_check({"a": 0.5, "c": 0.5}, {"a": 0.5, "b": 0.5}, ChecksParams())
    assert new_class.passed and new_class.value == pytest.approx(0.5)  # reported; the default never fails


def test_arabic_counts_ignore_numbers_and_count_repeats():
    assert dc.arabic_counts({"ممتاز": 3, "great": 1, "17": 5, "🙂": 2}) == (3, 4)
