"""The ensemble: combiners fitted on validation only, chosen by cross-validation, a self-contained model
folder evaluated, reported and registered like any classifier."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from pipeline import runlog
from pipeline.config import ParamsError, parse_params
from pipeline.models.ensemble import Combiner, cross_validated_f1, fit_ensemble
from tests.conftest import preprocessed_project


def _probs(y: np.ndarray, classes: int, accuracy: float, rng: np.random.Generator) -> np.ndarray:
    """A member right with probability ``accuracy``, confident either way."""
    pred = np.where(rng.random(len(y)) < accuracy, y, rng.integers(0, classes, len(y)))
    p = np.full((len(y), classes), 0.1 / (classes - 1))
    p[np.arange(len(y)), pred] = 0.9
    return p


def test_weighted_trusts_the_informative_member_and_stacking_learns_too():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    good, noise = _probs(y, 3, 0.9, rng), _probs(y, 3, 0.0, rng)
    weighted, _ = fit_ensemble(["good", "noise"], [good, noise], y, "weighted", 5, 0)
    assert weighted.weights[0] > 0.8 > weighted.weights[1] and abs(sum(weighted.weights) - 1) < 1e-5
    for method in ("mean", "weighted", "stacked"):
        comb, scores = fit_ensemble(["good", "noise"], [good, noise], y, method, 5, 0)
        out = comb.combine([good, noise])
        assert out.shape == (300, 3) and np.allclose(out.sum(axis=1), 1.0), method
        assert set(scores) == {method}
    # the mean is dragged down by the noise member; the fitted combiners are not (scored out of fold)
    assert cross_validated_f1("weighted", ["g", "n"], [good, noise], y, 5, 0) > cross_validated_f1(
        "mean", ["g", "n"], [good, noise], y, 5, 0
    )


def test_auto_picks_the_best_cross_validated_method_and_round_trips_as_json():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    members = [_probs(y, 2, 0.95, rng), _probs(y, 2, 0.0, rng), _probs(y, 2, 0.0, rng)]
    comb, scores = fit_ensemble(["a", "b", "c"], members, y, "auto", 4, 0)
    assert set(scores) == {"mean", "weighted", "stacked"}
    assert scores[comb.method] == max(scores.values()) and comb.method != "mean"
    again = Combiner.from_json(json.loads(json.dumps(comb.to_json())))
    assert np.allclose(again.combine(members), comb.combine(members))


def test_too_few_validation_documents_fall_back_to_the_mean():
    y = np.array([0, 1, 0, 1])  # two of each class: no 2-fold cross-validation of a fitted combiner
    p = [np.eye(2)[y] * 0.8 + 0.1, np.full((4, 2), 0.5)]
    comb, scores = fit_ensemble(["a", "b"], p, y, "auto", 5, 0)
    assert comb.method == "mean" or scores[comb.method] > float("-inf")


def test_members_must_be_trained_and_at_least_two():
    with pytest.raises(ParamsError, match=r"ensemble.members: 'cnn' is not trained"):
        parse_params({"train": {"architectures": ["lstm", "gru"]}, "ensemble": {"members": ["cnn"]}})
    with pytest.raises(ParamsError, match="at least two members"):
        parse_params({"train": {"architectures": ["lstm"]}, "ensemble": {"enabled": True}})


FLOORS = ["tfidf_linear", "tfidf_char_word", "nbsvm"]
OVERRIDES = {
    "train.architectures": FLOORS,
    "tune.architectures": [],
    "finetune.architectures": [],
    "ensemble.enabled": True,
    "preprocess.min_token_freq": 1,
    "evaluate.bootstrap_resamples": 50,
    "evaluate.explain_documents": 0,
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from pipeline.stages.evaluate import evaluate
    from pipeline.stages.train import train
    from pipeline.training.ensemble import build_ensemble

    root = tmp_path_factory.mktemp("ensemble")
    with preprocessed_project(root, OVERRIDES, 150) as params:
        for arch in FLOORS:
            train(params, arch)
        record = build_ensemble(params)
        headline = evaluate(params)
        yield root, params, record, headline


def test_the_ensemble_is_built_evaluated_and_logged(built):
    import mlflow

    root, params, record, headline = built
    assert params.classifiers == [*FLOORS, "ensemble"]
    assert "ensemble" in headline and 0.0 <= headline["ensemble"]["f1_macro"] <= 1.0
    ens = record.ensemble
    assert ens["members"] == FLOORS and ens["method"] in ens["cv_val_f1_macro"]
    assert record.best_val_f1_macro == ens["cv_val_f1_macro"][ens["method"]]
    saved = json.loads((root / "models" / "ensemble" / "run.json").read_text(encoding="utf-8"))
    assert saved["family"] == "ensemble" and saved["ensemble"]["members"] == FLOORS
    assert "latency_ms_per_doc" not in saved and "mlflow_run_id" not in saved  # facts of the run: its run log
    assert set(runlog.read(root / "models" / "ensemble" / "run.json")["latency_ms_per_doc"]) == {"batch_1", "batch_64"}
    mlflow.set_tracking_uri(params.base.mlflow_tracking_uri)
    run = mlflow.MlflowClient().get_run(record.mlflow_run_id)
    assert run.info.run_name == "train-ensemble" and run.data.params["ensemble.method_chosen"] == ens["method"]
    assert not (root / "models" / ".ensemble.tmp").exists()


def test_the_ensemble_folder_is_self_contained(built, tmp_path):
    from pipeline.data.split import read_split
    from pipeline.serving.predict import load_predictor

    root, params, _, _ = built
    rows = read_split(root / params.base.processed_dir / "test.jsonl")
    before = load_predictor(root / "models" / "ensemble", root / params.base.processed_dir).predict_proba(rows)
    moved = tmp_path / "ensemble"
    shutil.copytree(root / "models" / "ensemble", moved)  # away from the members' own folders
    after = load_predictor(moved, root / params.base.processed_dir).predict_proba(rows)
    assert np.allclose(before, after)
    # and it is the combination of its members' probabilities
    comb = Combiner.from_json(json.loads((moved / "ensemble.json").read_text(encoding="utf-8")))
    members = [
        np.asarray(load_predictor(root / "models" / a, root / params.base.processed_dir).predict_proba(rows))
        for a in comb.members
    ]
    assert np.allclose(comb.combine(members), after)


def test_the_report_names_the_members(built):
    from pipeline.stages.report import report

    root, params, _, _ = built
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        report(params)
    md = (root / "reports" / "report.md").read_text(encoding="utf-8")
    assert "ensemble: " in md and "fitted on the validation split only" in md and "| ensemble |" in md
    assert "cross-validated validation macro-F1" in (root / "reports" / "report.html").read_text(encoding="utf-8")


def test_a_registered_ensemble_answers_like_the_offline_one(built, tmp_path):
    import mlflow
    import pandas as pd

    from pipeline.data.split import read_split
    from pipeline.serving.predict import load_predictor
    from pipeline.serving.registration import register

    root, params, _, _ = built
    project = tmp_path / "project"
    shutil.copytree(root, project)
    for arch in FLOORS:  # only the ensemble has a validation score: the register stage must choose it
        run = project / "models" / arch / "run.json"
        run.write_text(json.dumps({**json.loads(run.read_text(encoding="utf-8")), "best_val_f1_macro": None}))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(project)
        reg = register(params.model_copy(update={"registry": params.registry.model_copy(update={"select_by": "val"})}))
        assert reg["arch"] == "ensemble"
        rows = read_split(project / params.base.processed_dir / "test.jsonl")
        offline = load_predictor(project / "models" / "ensemble", project / params.base.processed_dir)
        expected = np.asarray(offline.predict_proba(rows)).argmax(axis=1).tolist()
        texts = pd.DataFrame({"text": [r["text"] for r in rows]})
        served = mlflow.pyfunc.load_model(f"models:/{reg['name']}/{reg['version']}").predict(texts)
    assert served["label_id"].tolist() == expected


def test_the_ensemble_fits_on_out_of_sample_validation_probabilities_of_the_floors(built):
    """A floor is refitted on train + val: its saved model has seen validation. It also saves the validation
    probabilities of its train-only fit, whose macro-F1 is the one that chose its C, and the ensemble uses those."""
    from sklearn.metrics import f1_score

    from pipeline.data.split import read_split
    from pipeline.training.ensemble import validation_probabilities

    root, params, _, _ = built
    processed = root / params.base.processed_dir
    val = read_split(processed / "val.jsonl")
    truth = [int(r["label"]) for r in val]
    for arch in FLOORS:
        model_dir = root / "models" / arch
        probs = validation_probabilities(model_dir, processed, val)
        run = json.loads((model_dir / "run.json").read_text(encoding="utf-8"))
        held_out_f1 = f1_score(truth, np.asarray(probs).argmax(axis=1), average="macro")
        assert held_out_f1 == pytest.approx(run["best_val_f1_macro"], abs=1e-6), arch
