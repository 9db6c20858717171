"""The tune stage: search-space validation, seeded sampling, real pruning, resume, failed trials, MLflow
parent/child runs, the test split never read, tuned params (and tuned preprocessing) used by training,
DVC wiring, and two workers on one SQLite study."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.config import ParamsError, load_params, parse_params
from pipeline.data.jsonl import read_json
from pipeline.training.run_record import RunRecord
from tests.conftest import REPO, preprocessed_project, write_params

OVERRIDES = {
    "train.architectures": ["lstm", "gru"],
    "train.max_epochs": 3,
    "train.patience": 3,
    "train.hidden_dim": 16,
    "train.embedding_dim": 16,
    "train.batch_size": 16,
    "preprocess.min_token_freq": 1,
    "tune.architectures": ["lstm"],
    "tune.n_trials": 3,
    "tune.max_epochs": 2,
    "tune.sampler": "random",
    "tune.pruner": "none",
    "tune.search_space": {
        "train.lr": {"type": "log_float", "low": 0.001, "high": 0.05},
        "train.hidden_dim": {"type": "categorical", "choices": [8, 16]},
    },
}


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> Path:
    """Preprocessed synthetic data (90 documents), made once and copied into each test's project."""
    root = tmp_path_factory.mktemp("tune-data")
    with preprocessed_project(root, OVERRIDES, 90):
        return root / "data" / "processed"


def make_project(workdir: Path, processed: Path, overrides: dict | None = None, with_test: bool = True) -> None:
    write_params(workdir / "params.yaml", {**OVERRIDES, **(overrides or {})})
    shutil.copytree(processed, workdir / "data" / "processed")
    if not with_test:
        (workdir / "data" / "processed" / "test.jsonl").unlink()


def run_tune(arch: str = "lstm", **kwargs):
    from pipeline.stages.tune import tune

    return tune(load_params(), arch, **kwargs)


def trials_of(report: dict) -> list[tuple]:
    return [(t["number"], t["state"], t["value"], t["params"]) for t in report["trials"]]


# --- search-space validation (no training) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("space", "expected"),
    [
        (
            {"train.lrr": {"type": "float", "low": 0.1, "high": 1}},
            ["tune.search_space", "train.lrr", "not a params key"],
        ),
        ({"base.seed": {"type": "int", "low": 1, "high": 3}}, ["base.seed", "only train.* and preprocess.*"]),
        ({"preprocess.split.test": {"type": "float", "low": 0.1, "high": 0.2}}, ["preprocess.split.test", "splits"]),
        ({"train.max_epochs": {"type": "int", "low": 1, "high": 3}}, ["train.max_epochs", "tune.max_epochs"]),
        ({"train.lr": {"type": "log_float", "low": 0, "high": 0.1}}, ["tune.search_space.train.lr", "low` > 0"]),
        ({"train.lr": {"type": "float", "low": 0.1}}, ["train.lr", "needs `low` and `high`"]),
        ({"train.lr": {"type": "float", "low": 0.5, "high": 0.1}}, ["train.lr", "must not exceed"]),
        ({"train.hidden_dim": {"type": "float", "low": 8, "high": 64}}, ["train.hidden_dim", "use type int"]),
        ({"train.num_layers": {"type": "int", "low": 0, "high": 2}}, ["train.num_layers", "0 is not a valid value"]),
        ({"train.pooling": {"type": "categorical", "choices": ["mean", "sum"]}}, ["train.pooling", "'sum'"]),
        ({"preprocess.stemmer": {"type": "categorical", "choices": []}}, ["preprocess.stemmer", "non-empty"]),
        ({"train.dropout": {"type": "uniform", "low": 0, "high": 0.5}}, ["train.dropout", "type"]),
        (
            {"preprocess.normalize": {"type": "categorical", "choices": [True]}},
            ["preprocess.normalize", "not a params"],
        ),
    ],
)
def test_search_space_errors_name_the_key(space, expected):
    with pytest.raises(ParamsError) as err:
        parse_params({"tune": {"search_space": space}})
    for fragment in expected:
        assert fragment in str(err.value), str(err.value)


def test_valid_search_space_and_tune_keys():
    params = parse_params(
        {
            "tune": {
                "search_space": {
                    "train.lr": {"type": "log_float", "low": 1e-4, "high": 1e-2},
                    "train.num_layers": {"type": "int", "low": 1, "high": 3, "step": 1},
                    "preprocess.normalize.unify_hamza": {"type": "categorical", "choices": [True, False]},
                    "preprocess.stemmer": {"type": "categorical", "choices": ["light", "isri", "none"]},
                }
            }
        }
    )
    assert set(params.tune.search_space) == {
        "train.lr",
        "train.num_layers",
        "preprocess.normalize.unify_hamza",
        "preprocess.stemmer",
    }
    with pytest.raises(ParamsError, match=r"tune.architectures.*tfidf_linear.*not a network"):
        parse_params({"tune": {"architectures": ["tfidf_linear"]}})
    with pytest.raises(ParamsError, match=r"tune.study_name"):
        parse_params({"tune": {"study_name": "{arch}-{nope}"}})
    repo = load_params(REPO / "params.yaml")  # the shipped params validate and tune something
    assert repo.tune.search_space and set(repo.tune.architectures) <= set(repo.train.architectures)


def test_redacted_storage_and_untuned_architecture(workdir, processed):
    from pipeline.tuning.study import redact

    assert (
        redact("postgresql://optuna:s3cret@db.example:5432/studies")
        == "postgresql://optuna:***@db.example:5432/studies"
    )
    assert redact("sqlite:///optuna.db") == "sqlite:///optuna.db"
    make_project(workdir, processed)
    report = run_tune("gru")  # not in tune.architectures: empty best params, no study
    assert report == {"arch": "gru", "tuned": False}
    assert read_json(workdir / "data/tuned/gru.json") == {}
    assert read_json(workdir / "reports/tuning/gru.json") == {"arch": "gru", "tuned": False}
    assert not (workdir / "optuna.db").exists()


# --- studies ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def studied(processed, tmp_path_factory):
    """One study of 3 trials on train/val only: ``test.jsonl`` is removed from the project first."""
    root = tmp_path_factory.mktemp("studied")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        make_project(root, processed, with_test=False)
        report = run_tune()
        yield root, report


def test_study_never_reads_the_test_split_and_writes_its_outputs(studied):
    root, report = studied
    assert not (root / "data/processed/test.jsonl").exists()  # it ran without the test split
    assert report["states"] == {"COMPLETE": 3, "PRUNED": 0, "FAIL": 0}
    # trial 0 is the untuned params.yaml values of the searched keys (tune.first_trial_defaults)
    assert report["trials"][0]["params"] == {"train.lr": 0.003, "train.hidden_dim": 16}
    assert report["metric"] == "val/f1_macro" and report["direction"] == "maximize"
    assert read_json(root / "reports/tuning/lstm.json")["study_name"] == report["study_name"]
    best = max((t for t in report["trials"] if t["state"] == "COMPLETE"), key=lambda t: t["value"])
    assert report["best"] == {"number": best["number"], "value": best["value"], "params": best["params"]}
    tuned = read_json(root / "data/tuned/lstm.json")
    assert tuned["params"] == best["params"] and tuned["trial"] == best["number"] and tuned["value"] == best["value"]
    for t in report["trials"]:
        assert set(t["params"]) == {"train.lr", "train.hidden_dim"}
        assert 0.001 <= t["params"]["train.lr"] <= 0.05 and t["params"]["train.hidden_dim"] in (8, 16)
        assert list(t["intermediate"]) == ["0", "1"]  # one report per epoch (tune.max_epochs 2)
        assert t["value"] == pytest.approx(max(t["intermediate"].values()))
        assert t["duration_s"] > 0 and t["mlflow_run_id"]
    assert set(report["importances"]) <= {"train.lr", "train.hidden_dim"}
    assert math.isclose(sum(report["importances"].values()), 1.0, rel_tol=1e-3) or not report["importances"]


def test_mlflow_parent_and_nested_trial_runs(studied):
    root, report = studied
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    exp = client.get_experiment_by_name("arabic-reviews")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.info.run_name == "tune-lstm"]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.run_id == report["mlflow_parent_run_id"] and parent.info.status == "FINISHED"
    children = {r.info.run_id: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert len(children) == 3
    best_number = report["best"]["number"]
    for t in report["trials"]:
        child = children[t["mlflow_run_id"]]
        assert child.info.run_name == f"trial-{t['number']}"
        assert child.data.tags["state"] == "complete"
        assert child.data.tags["best_trial"] == ("true" if t["number"] == best_number else "false")
        assert float(child.data.params["train.lr"]) == pytest.approx(t["params"]["train.lr"])
        history = client.get_metric_history(child.info.run_id, "val/f1_macro")
        assert [(m.step, round(m.value, 6)) for m in history] == [
            (int(k), round(v, 6)) for k, v in t["intermediate"].items()
        ]
    assert parent.data.metrics["best/val_f1_macro"] == pytest.approx(report["best"]["value"])
    for key, value in report["best"]["params"].items():
        assert parent.data.params[f"best.{key}"] == str(value)
    assert parent.data.tags["best_trial_number"] == str(best_number)
    assert parent.data.metrics["trials/complete"] == 3


def test_seeded_sampler_is_reproducible(workdir, processed, studied):
    _, first = studied
    make_project(workdir, processed, {"tune.n_trials": 2})
    again = run_tune()
    assert again["study_name"] == first["study_name"]  # same data, params and space: same name
    assert trials_of(again) == trials_of(first)[:2]  # same seed: same params, same values
    (workdir / "other").mkdir()
    make_project(workdir / "other", processed, {"tune.n_trials": 2, "base.seed": 7})
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(workdir / "other")
        other = run_tune()
    assert [t[3] for t in trials_of(other)] != [t[3] for t in trials_of(first)[:2]]


def test_resume_continues_the_same_study(workdir, processed):
    make_project(workdir, processed, {"tune.n_trials": 2})
    first = run_tune()
    assert len(first["trials"]) == 2
    write_params(workdir / "params.yaml", {**OVERRIDES, "tune.n_trials": 4})
    second = run_tune()
    assert second["study_name"] == first["study_name"]
    assert len(second["trials"]) == 4 and [t["number"] for t in second["trials"]] == [0, 1, 2, 3]
    assert trials_of(second)[:2] == trials_of(first)  # the first two are unchanged
    assert second["trials"][2]["params"] not in [t["params"] for t in first["trials"]]  # not redrawn
    assert second["mlflow_parent_run_id"] == first["mlflow_parent_run_id"]  # the same parent run, reopened
    third = run_tune()  # nothing missing: no new trial
    assert trials_of(third) == trials_of(second)
    # the fixed params are part of the study name: another one starts a fresh study
    write_params(workdir / "params.yaml", {**OVERRIDES, "tune.n_trials": 1, "train.dropout": 0.2})
    assert run_tune()["study_name"] != first["study_name"]


def test_pruner_really_prunes_bad_trials(workdir, processed):
    make_project(
        workdir,
        processed,
        {
            "tune.n_trials": 6,
            "tune.max_epochs": 4,
            "tune.pruner": "median",
            "tune.pruner_startup_trials": 1,
            "tune.pruner_warmup_epochs": 1,
            "tune.search_space": {"train.lr": {"type": "categorical", "choices": [0.03, 1e-6]}},
        },
    )
    report = run_tune()
    pruned = [t for t in report["trials"] if t["state"] == "PRUNED"]
    assert pruned, trials_of(report)
    for t in pruned:  # only the learning rate that cannot learn is pruned, before its last epoch
        assert t["params"]["train.lr"] == 1e-6
        assert len(t["intermediate"]) < 4
    assert report["best"]["params"]["train.lr"] == 0.03
    assert report["states"]["COMPLETE"] + report["states"]["PRUNED"] == 6


def test_failed_trials_are_recorded_and_the_study_goes_on(workdir, processed):
    from lightning.pytorch.callbacks import Callback

    class PoisonSecondTrial(Callback):
        """Makes the weights NaN in the second trial (as a diverging training would)."""

        calls = 0

        def on_train_start(self, trainer, pl_module):
            type(self).calls += 1
            if type(self).calls == 2:
                for p in pl_module.parameters():
                    p.data.fill_(float("nan"))

    make_project(
        workdir,
        processed,
        {
            # heads 3 does not divide embedding_dim 16: an invalid combination, caught per trial
            "tune.search_space": {"train.transformer_heads": {"type": "categorical", "choices": [2, 3]}},
            "tune.sampler": "random",
            "tune.n_trials": 3,
        },
    )
    report = run_tune(callbacks=[PoisonSecondTrial()])
    failed = [t for t in report["trials"] if t["state"] == "FAIL"]
    assert failed and report["states"]["FAIL"] == len(failed)
    assert report["states"]["COMPLETE"] == 3  # failures do not count: the study went on to 3 results
    reasons = [t["fail_reason"] for t in failed]
    assert any("FloatingPointError: non-finite training loss" in r for r in reasons), reasons
    for t in failed:
        if t["params"]["train.transformer_heads"] == 3:
            assert "train.transformer_heads" in t["fail_reason"]
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}")
    for t in failed:
        run = client.get_run(t["mlflow_run_id"])
        assert run.data.tags["state"] == "fail" and run.info.status == "FAILED"
        assert run.data.tags["fail_reason"] == t["fail_reason"]


# --- the final training uses the tuned params ------------------------------------------------------------


def test_train_applies_tuned_params_and_tuned_preprocessing(workdir, processed):
    from pipeline.data.split import read_split
    from pipeline.serving.predict import load_predictor
    from pipeline.stages.train import train

    make_project(workdir, processed, {"train.max_epochs": 2})
    tuned = {"train.hidden_dim": 8, "train.lr": 0.02, "preprocess.stemmer": "none"}
    (workdir / "data/tuned").mkdir(parents=True)
    (workdir / "data/tuned/lstm.json").write_text(
        json.dumps({"arch": "lstm", "study_name": "s", "trial": 5, "value": 0.5, "params": tuned}), encoding="utf-8"
    )
    processed_before = {p.name: p.read_bytes() for p in (workdir / "data/processed").iterdir()}
    record = train(load_params(), "lstm").model_dump()
    model_dir = workdir / "models/lstm"
    run = read_json(model_dir / "run.json")
    assert run["tuned"] == {
        "file": "data/tuned/lstm.json",
        "study_name": "s",
        "trial": 5,
        "value": 0.5,
        "params": tuned,
    }
    assert record["tuned"] == run["tuned"]
    assert run["params"]["train.hidden_dim"] == 8 and run["params"]["train.lr"] == 0.02
    assert run["params"]["preprocess.stemmer"] == "none"
    # its own preprocessing and vocabulary, from the raw text without stemming
    saved = read_json(model_dir / "preprocess.json")
    assert saved["overrides"] == {"preprocess.stemmer": "none"} and saved["preprocess"]["stemmer"] == "none"
    vocab = read_json(model_dir / "vocab.json")["itos"]
    assert vocab != read_json(workdir / "data/processed/vocab.json")["itos"]
    assert "والخدمه" in vocab  # unstemmed (the light stemmer strips the prefixes)
    assert processed_before == {p.name: p.read_bytes() for p in (workdir / "data/processed").iterdir()}
    assert not (workdir / "data/train-state/lstm-tuned-data").exists()
    # prediction re-tokenises from text: the rows' own tokens are ignored
    rows = read_split(workdir / "data/processed/test.jsonl")
    predictor = load_predictor(model_dir, workdir / "data/processed")
    blanked = [{**r, "tokens": []} for r in rows]
    probs = predictor.predict_proba(rows)
    assert predictor.predict_proba(blanked) == probs
    from pipeline.text.processor import TextProcessor

    unstemmed = TextProcessor(load_params().preprocess.model_copy(update={"stemmer": "none"}))
    assert predictor.encode(rows[:3]) == [
        (predictor.vocab.encode(unstemmed(r["text"])[:200]) or [1], r["label"]) for r in rows[:3]
    ]
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}")
    tags = client.get_run(RunRecord.load(model_dir).mlflow_run_id).data.tags
    assert tags["tuned"] == "true" and tags["tuned.keys"] == "preprocess.stemmer,train.hidden_dim,train.lr"
    # tune.apply false: params.yaml as it is
    write_params(workdir / "params.yaml", {**OVERRIDES, "train.max_epochs": 1, "tune.apply": False})
    plain = train(load_params(), "lstm").model_dump()
    assert plain["tuned"] is None and plain["params"]["train.hidden_dim"] == 16
    assert not (model_dir / "preprocess.json").exists()


# --- wiring ----------------------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    env.update(PYTHONPATH=str(REPO), MLFLOW_DISABLE_TELEMETRY="true")
    return env


def test_dvc_yaml_tune_stage_wiring():
    dvc = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))
    tune, train = dvc["stages"]["tune"], dvc["stages"]["train"]
    assert tune["foreach"] == train["foreach"] == "${train.architectures}"
    assert tune["do"]["cmd"] == "python -m pipeline tune ${item}"
    deps = tune["do"]["deps"]
    assert "data/processed/train.jsonl" in deps and "data/processed/val.jsonl" in deps
    assert not any("test" in d for d in deps) and "data/processed" not in deps  # never the test split
    listed = set(tune["do"]["params"])  # exact keys: tests/test_dvc_deps.py
    assert {
        "base.seed",
        "preprocess",
        "train.lr",
        "tune.search_space",
    } <= listed and "train.architectures" not in listed
    outs = [next(iter(o)) if isinstance(o, dict) else o for o in tune["do"]["outs"]]
    assert outs == ["${tune.output_dir}/${item}.json", "reports/tuning/${item}.json"]
    assert "optuna" not in json.dumps(tune)  # the study storage is not an output (DVC would delete it)
    assert "${tune.output_dir}/${item}.json" in train["do"]["deps"]
    assert {"tune.output_dir", "tune.apply"} <= set(train["do"]["params"])
    # every imported file being a listed dependency is checked for all stages in tests/test_dvc_deps.py
    tuning_keys = {f"tune.{k}" for k in type(load_params(REPO / "params.yaml").tune).model_fields}
    assert tuning_keys == {f"tune.{k}" for k in yaml.safe_load((REPO / "params.yaml").read_text())["tune"]}


def test_cli_rejects_an_unknown_architecture(workdir, processed):
    make_project(workdir, processed)
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.stages.tune", "lsmt"],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=_env(),
    )
    assert proc.returncode == 2 and "unknown architecture 'lsmt'" in proc.stderr


@pytest.mark.slow
def test_two_workers_share_one_study_without_losing_or_duplicating_trials(workdir, processed):
    make_project(workdir, processed, {"tune.n_trials": 6, "tune.max_epochs": 1})
    env = _env()
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "pipeline.stages.tune", "lstm", "--worker", str(i)],
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in (1, 2)
    ]
    for w in workers:
        assert w.wait(timeout=600) == 0, w.stderr.read()[-3000:]
    assert not (workdir / "data/tuned/lstm.json").exists()  # workers write no outputs
    report = run_tune()  # the finishing invocation runs nothing more and writes them
    numbers = [t["number"] for t in report["trials"]]
    assert sorted(numbers) == list(range(len(numbers))) and len(numbers) >= 6
    # a worker that starts a trial as the other takes the last slot ends it at once as surplus (FAIL, no run)
    surplus = [t for t in report["trials"] if (t["fail_reason"] or "").startswith("surplus")]
    assert all(t["state"] == "FAIL" and t["mlflow_run_id"] is None for t in surplus)
    trials = [t for t in report["trials"] if t not in surplus]
    assert report["states"]["COMPLETE"] == len(trials) == 6 and all(t["state"] == "COMPLETE" for t in trials)
    run_ids = [t["mlflow_run_id"] for t in trials]
    assert len(set(run_ids)) == len(run_ids)
    # both workers ran trials (distinct sampler seeds: no repeated points)
    params = [json.dumps(t["params"], sort_keys=True) for t in trials]
    assert len(set(params)) == len(params)


@pytest.mark.slow
def test_a_killed_run_resumes_and_its_lost_trial_is_replaced(workdir, processed):
    """SIGKILL in the middle of a trial: the trial stays RUNNING until its heartbeat goes stale, then it is
    marked FAIL and the rerun replaces it; the finished trials are kept."""
    import time

    import optuna

    make_project(workdir, processed, {"tune.n_trials": 3, "tune.max_epochs": 6, "tune.heartbeat_s": 1})
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.stages.tune", "lstm"],
        cwd=workdir,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    storage = None
    deadline = time.time() + 300
    trials: list = []
    try:
        while time.time() < deadline and proc.poll() is None:  # kill it while a trial after the first runs
            time.sleep(0.1)
            try:
                if storage is None and (workdir / "optuna.db").is_file():
                    storage = optuna.storages.RDBStorage(f"sqlite:///{workdir / 'optuna.db'}", skip_table_creation=True)
                (summary,) = optuna.get_all_study_summaries(storage)
                trials = optuna.load_study(study_name=summary.study_name, storage=storage).get_trials()
            except Exception:  # the database or the study is not there yet
                continue
            states = [t.state.name for t in trials]
            if "COMPLETE" in states and states[-1] == "RUNNING":
                break
        else:
            pytest.fail(f"the run was not caught inside a trial after the first: {[t.state.name for t in trials]}")
    finally:
        proc.kill()
        proc.wait()
    killed = trials[-1].number
    kept = [(t.number, t.params, t.value) for t in trials if t.state.name == "COMPLETE"]
    report = run_tune()
    states = [t["state"] for t in report["trials"]]
    assert states.count("COMPLETE") == 3 and states[killed] == "FAIL", states
    assert states.count("FAIL") == 1
    assert [t["number"] for t in report["trials"]] == list(range(len(states)))
    assert [(t["number"], t["params"], t["value"]) for t in report["trials"] if t["number"] < killed] == kept


def test_storage_heartbeat_retry_and_the_surplus_trial(tmp_path):
    """The storage fails stale trials after the grace period and re-queues them; of two trials started for the
    last free slot, the later-numbered one is surplus (and a surplus trial takes no slot)."""
    import optuna

    from pipeline.tuning.study import SURPLUS_ATTR, count_states, grace_period, is_surplus, make_storage, storage_url

    params = parse_params({"tune": {"heartbeat_s": 2, "max_retry": 2}})
    assert grace_period(params) == 6
    assert grace_period(parse_params({"tune": {"heartbeat_s": 2, "grace_period_s": 4}})) == 4
    assert storage_url(parse_params({"tune": {"storage": "postgresql://u@h/db"}})) == "postgresql+psycopg://u@h/db"
    storage = make_storage(params, f"sqlite:///{tmp_path / 'o.db'}")
    assert storage.get_heartbeat_interval() == 2
    assert isinstance(storage.get_heartbeat_stale_trial_callback(), optuna.storages.RetryHeartbeatStaleTrialCallback)
    study = optuna.create_study(storage=storage)
    done = study.ask()
    study.tell(done, 1.0)
    first, second = study.ask(), study.ask()  # two workers take the last of n_trials=2 at once
    assert not is_surplus(first, 2) and is_surplus(second, 2)
    second.set_user_attr(SURPLUS_ATTR, True)
    study.tell(second, state=optuna.trial.TrialState.FAIL)
    states = count_states(study)  # a surplus trial is no failure (tune.max_failed_trials)
    assert (states["FAIL"], states["SURPLUS"], states["COMPLETE"], states["RUNNING"]) == (0, 1, 1, 1)


def test_a_trial_whose_worker_died_before_its_first_heartbeat_is_failed_and_retried(tmp_path):
    """A worker killed between creating a trial and its first heartbeat leaves a RUNNING trial Optuna's stale
    check never sees (it has no heartbeat): after the grace period it is failed and re-queued, instead of holding
    a slot for ever (``run_trials`` waited on it without end). That includes a trial whose objective had just
    started (the ``worker`` attr set, the heartbeat thread not yet through): a CI run hung on one."""
    import time

    import optuna

    from pipeline.tuning.study import WORKER_ATTR, fail_unbeaten_trials, make_storage

    params = parse_params({"tune": {"heartbeat_s": 1, "grace_period_s": 1, "max_retry": 1}})
    study = optuna.create_study(storage=make_storage(params, f"sqlite:///{tmp_path / 'o.db'}"))
    space = {"x": optuna.distributions.FloatDistribution(0, 1)}
    orphan = study.ask(space)  # created, never beaten
    started = study.ask(space)
    started.set_user_attr(WORKER_ATTR, "host:1")  # its objective started, then the worker died before a beat
    alive = study.ask(space)
    alive.set_user_attr(WORKER_ATTR, "host:2")
    study._storage.record_heartbeat(alive._trial_id)  # beating: stale or not is Optuna's business
    assert fail_unbeaten_trials(study, 1.0) == 0  # younger than the grace period
    time.sleep(1.2)
    assert fail_unbeaten_trials(study, 1.0) == 2
    trials = study.get_trials()
    assert [trials[t.number].state.name for t in (orphan, started, alive)] == ["FAIL", "FAIL", "RUNNING"]
    retried = sorted((t for t in trials if t.state.name == "WAITING"), key=lambda t: t.system_attrs["failed_trial"])
    assert [t.params for t in retried] == [trials[orphan.number].params, trials[started.number].params]
