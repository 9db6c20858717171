"""Three scheduled runs in one project and one MLflow store (preprocess → train → evaluate → register):
run 1 makes version 1 the champion (``first``); run 2 on English-only data fails the data checks and changes
nothing; run 3 on more good data registers version 2 and moves ``@champion`` only as the gate decides.
Plus the gate's rules on hand-made figures."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pipeline import runlog
from pipeline.config import RegistryParams, load_params
from pipeline.data.jsonl import DataError
from pipeline.evaluation import gate
from pipeline.evaluation.stats import mcnemar
from pipeline.serving.registration import RUN_FACTS
from tests.conftest import make_raw_docs, write_params, write_raw

ARCHS = ["cnn", "tfidf_linear"]
OVERRIDES = {
    "train.architectures": ARCHS,
    "tune.architectures": [],
    "finetune.architectures": [],
    "train.max_epochs": 4,
    "train.patience": 4,
    "train.lr": 0.01,
    "train.embedding_dim": 16,
    "train.hidden_dim": 16,
    "train.batch_size": 16,
    "preprocess.min_token_freq": 1,
    "evaluate.bootstrap_resamples": 50,
    "evaluate.explain_documents": 0,
    "evaluate.examples": 0,
    "evaluate.confident_errors": 0,
}


def _run_pipeline(root: Path, docs: list[dict]) -> dict:
    from pipeline.data.preprocessing import preprocess
    from pipeline.serving.registration import register
    from pipeline.stages.evaluate import evaluate
    from pipeline.stages.train import train

    write_raw(root, docs)
    params = load_params()
    preprocess(params)
    for arch in ARCHS:
        train(params, arch)
    evaluate(params)
    return register(params)


def _snapshot(root: Path) -> dict[str, str]:
    """Hash of every file under models/, data/processed/ and reports/registry.json."""
    files = [p for d in ("models", "data/processed") for p in sorted((root / d).rglob("*")) if p.is_file()]
    files.append(root / "reports" / "registry.json")
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _english(n: int) -> list[dict]:
    words = ["great", "awful", "fine", "tasty", "dirty", "slow", "friendly", "cold"]
    return [{**d, "text": f"review {i} " + " ".join(words[(i + k) % 8] for k in range(6))}
            for i, d in enumerate(make_raw_docs(n, seed=1))]  # fmt: skip


def test_three_scheduled_runs(tmp_path, monkeypatch):
    import mlflow

    monkeypatch.chdir(tmp_path)
    write_params(tmp_path / "params.yaml", OVERRIDES)
    params = load_params()
    name, alias = params.registry.model_name, params.registry.alias
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")

    # run 1: the first champion
    first = _run_pipeline(tmp_path, make_raw_docs(132))
    assert (first["decision"], first["challenger_version"], first["champion_version"]) == ("first", "1", None)
    assert str(client.get_model_version_by_alias(name, alias).version) == "1"
    shares = json.loads(client.get_model_version(name, "1").tags["label_distribution"])
    assert set(shares) == {"negative", "neutral", "positive"}

    # run 2: English-only pages fail the checks; nothing in models/, processed data, the registry or the alias moves
    before = _snapshot(tmp_path)
    with pytest.raises(DataError, match=r"min_arabic_share: Arabic-script share of word tokens 0\.0000"):
        _run_pipeline(tmp_path, _english(132))
    assert _snapshot(tmp_path) == before
    assert [str(v.version) for v in client.search_model_versions(f"name='{name}'")] == ["1"]
    assert str(client.get_model_version_by_alias(name, alias).version) == "1"
    assert json.loads((tmp_path / "reports" / "data_checks.json").read_text())["passed"] is False

    # run 3: more good data; a new version, the alias moves only as the gate decides
    third = _run_pipeline(tmp_path, make_raw_docs(200, seed=3))
    checks = json.loads((tmp_path / "reports" / "data_checks.json").read_text())
    assert checks["passed"] and checks["checks"]["max_label_drift"]["value"] is not None  # against v1's shares
    saved = json.loads((tmp_path / "reports" / "registry.json").read_text(encoding="utf-8"))
    assert saved == {k: v for k, v in third.items() if k not in RUN_FACTS}  # ids and checksums: the run log's
    assert runlog.read(tmp_path / "reports" / "registry.json")["register_run_id"] == third["register_run_id"]
    assert third["challenger_version"] == third["version"] == "2" and third["champion_version"] == "1"
    assert third["decision"] in ("promoted", "kept") and third["reason"]
    comparison = third["figures"]["comparison"]
    test_rows = (tmp_path / "data" / "processed" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    assert comparison["documents"] == len(test_rows)  # the champion re-scored on the new test split
    assert comparison["verdict"] in ("better", "same", "worse")
    promoted = comparison["verdict"] == "better" or comparison["verdict"] == "same"  # promote_on: same
    assert third["decision"] == ("promoted" if promoted else "kept")
    assert str(client.get_model_version_by_alias(name, alias).version) == ("2" if promoted else "1")
    assert third["alias_version"] == ("2" if promoted else "1")
    assert client.get_model_version(name, "2").tags["gate_decision"] == third["decision"]

    # the same run registered again under promote_on: better; a "same" verdict now keeps the champion
    from pipeline.serving.registration import register

    params = load_params()
    strict = params.model_copy(update={"registry": params.registry.model_copy(update={"promote_on": "better"})})
    again = register(strict)
    champion = third["alias_version"]
    assert (again["challenger_version"], again["champion_version"]) == ("3", champion)
    if again["figures"]["comparison"]["verdict"] == "same":
        assert again["decision"] == "kept" and "registry.promote_on is better" in again["reason"]
    assert str(client.get_model_version_by_alias(name, alias).version) == again["alias_version"]
    assert again["alias_version"] == ("3" if again["decision"] == "promoted" else champion)


REG = RegistryParams()


def test_first_needs_the_floor():
    d = gate.decide(REG, "cnn", "1", 0.40, 0.55, None, None, "tfidf_linear")
    assert d.decision == "kept" and "does not beat the tfidf_linear floor 0.5500" in d.reason and not d.moves_alias
    assert gate.decide(REG, "cnn", "1", 0.60, 0.55, None, None).decision == "first"
    assert gate.decide(REG, "tfidf_linear", "1", 0.55, 0.55, None, None).decision == "first"  # it is the floor
    low = gate.decide(RegistryParams(min_f1_macro=0.7), "cnn", "1", 0.60, 0.55, None, None)
    assert low.decision == "kept" and "below registry.min_f1_macro 0.7" in low.reason


def _comparison(b: int, c: int, same: int = 20) -> dict:
    challenger = [True] * b + [False] * c + [True] * same
    champion = [False] * b + [True] * c + [True] * same
    out = gate.verdict(challenger, champion, REG.significance_level, 25)
    return {**out, "documents": len(challenger), "champion_f1_macro": 0.7}


def test_verdict_is_mcnemar():
    assert _comparison(12, 0)["verdict"] == "better"
    assert _comparison(0, 12)["verdict"] == "worse"
    assert _comparison(3, 2)["verdict"] == "same"
    assert _comparison(12, 0)["p_value"] == mcnemar([True] * 12 + [True] * 20, [False] * 12 + [True] * 20)["p_value"]


@pytest.mark.parametrize(
    ("promote_on", "b", "c", "decision"),
    [("same", 12, 0, "promoted"), ("same", 3, 2, "promoted"), ("same", 0, 12, "kept"),
     ("better", 12, 0, "promoted"), ("better", 3, 2, "kept"), ("better", 0, 12, "kept")],
)  # fmt: skip
def test_promote_on(promote_on, b, c, decision):
    d = gate.decide(RegistryParams(promote_on=promote_on), "cnn", "2", 0.8, 0.5, "1", _comparison(b, c))
    assert d.decision == decision and d.champion_version == "1" and d.challenger_version == "2"
    assert "McNemar" in d.reason and f"b={b} c={c}" in d.reason


def test_champion_that_cannot_be_rescored_is_kept():
    d = gate.decide(REG, "cnn", "2", 0.8, 0.5, "1", {"error": "OSError: artifacts gone"})
    assert d.decision == "kept" and "could not be re-scored (OSError: artifacts gone)" in d.reason
