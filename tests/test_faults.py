"""Faults and safe artifacts: MLflow runs of a killed stage end KILLED (SIGTERM) or are ended KILLED by the next
run (SIGKILL), no unsafe checkpoint loads, and pickled artifacts refused when their checksum does not match."""

from __future__ import annotations

import ast
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.data.integrity import ChecksumError, sha256_file, verify_checksum, write_checksum
from tests.conftest import REPO, preprocessed_project, write_params

TUNE = {
    "train.architectures": ["lstm"],
    "train.hidden_dim": 16,
    "train.embedding_dim": 16,
    "train.batch_size": 16,
    "preprocess.min_token_freq": 1,
    "tune.architectures": ["lstm"],
    "tune.n_trials": 2,
    "tune.max_epochs": 12,
    "tune.sampler": "random",
    "tune.pruner": "none",
    "tune.heartbeat_s": 1,
    "tune.search_space": {"train.lr": {"type": "log_float", "low": 0.001, "high": 0.05}},
}


def _code_files() -> list[Path]:
    return [p for d in ("pipeline", "scraping", "tests", "bench") for p in sorted((REPO / d).rglob("*.py"))]


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)]


def _name(call: ast.Call) -> str:
    f = call.func
    if isinstance(f, ast.Attribute):
        return f"{f.value.id}.{f.attr}" if isinstance(f.value, ast.Name) else f".{f.attr}"
    return f.id if isinstance(f, ast.Name) else ""


def _weights_only_true(call: ast.Call) -> bool:
    return any(
        k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True for k in call.keywords
    )


# --- safe loading (static checks: they fail on code that loads unsafely) -----------------------------------


def test_no_unsafe_torch_load_anywhere():
    """No unsafe ``weights_only`` (the string below); every ``torch.load``, ``load_from_checkpoint`` and resuming
    ``Trainer.fit`` passes ``weights_only=True`` (Lightning's default follows torch's, which an environment variable
    can flip)."""
    unsafe = "weights_only=" + "False"
    problems = []
    for path in _code_files():
        text = path.read_text(encoding="utf-8")
        if unsafe in text.replace(" ", ""):
            problems.append(f"{path.relative_to(REPO)}: {unsafe}")
        for call in _calls(ast.parse(text)):
            name = _name(call)
            loads = name in ("torch.load", ".load_from_checkpoint") or name.endswith(".load_from_checkpoint")
            resumes = name.endswith(".fit") and any(k.arg == "ckpt_path" for k in call.keywords)
            if (loads or resumes) and not _weights_only_true(call):
                problems.append(f"{path.relative_to(REPO)}:{call.lineno}: {name} without weights_only=True")
    assert not problems, "\n".join(problems)


def test_every_unpickling_is_preceded_by_a_checksum_check():
    """In the pipeline, a function that calls ``joblib.load``/``pickle.load(s)`` verifies a checksum first."""
    problems = []
    for path in sorted((REPO / "pipeline").rglob("*.py")):
        for func in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(func, ast.FunctionDef):
                continue
            calls = _calls(func)
            verified = [c.lineno for c in calls if _name(c) in ("verify_checksum", ".verify_checksum")]
            for c in calls:
                unpickles = _name(c) in ("joblib.load", "pickle.load", "pickle.loads", "cloudpickle.load")
                if unpickles and not any(line <= c.lineno for line in verified):
                    problems.append(f"{path.relative_to(REPO)}:{c.lineno}: {_name(c)} without verify_checksum")
    assert not problems, "\n".join(problems)


# --- checksums ---------------------------------------------------------------------------------------------


def test_checksum_mismatch_and_missing_record_are_one_line_errors(tmp_path):
    f = tmp_path / "model.joblib"
    f.write_bytes(b"original bytes")
    digest = write_checksum(f)
    assert (tmp_path / "model.joblib.sha256").read_text() == f"{digest}  model.joblib\n"
    assert verify_checksum(f) == digest
    f.write_bytes(b"tampered bytes")
    with pytest.raises(ChecksumError) as err:
        verify_checksum(f)
    message = str(err.value)
    assert "\n" not in message and str(f) in message and digest in message and sha256_file(f) in message
    (tmp_path / "model.joblib.sha256").unlink()
    with pytest.raises(ChecksumError, match=r"model\.joblib: no checksum recorded"):
        verify_checksum(f)


def test_a_tampered_tfidf_model_is_refused_before_unpickling(tmp_path):
    """The real TF-IDF model: written with its checksum, loads; one changed byte and it is refused."""
    from pipeline.serving.predict import load_predictor
    from pipeline.training.classifier import train_baseline

    overrides = {"train.architectures": ["tfidf_linear"], "tune.architectures": []}
    with preprocessed_project(tmp_path, overrides, 60) as params:
        out = Path(params.base.models_dir) / "tfidf_linear"
        train_baseline(params, "tfidf_linear", out)
        processed = Path(params.base.processed_dir)
        model = out / "model.joblib"
        assert (out / "model.joblib.sha256").read_text().split()[0] == sha256_file(model)
        assert len(load_predictor(out, processed).predict_proba([{"tokens": ["رائع"], "text": "رائع"}])) == 1
        recorded = sha256_file(model)
        data = bytearray(model.read_bytes())
        data[len(data) // 2] ^= 0xFF
        model.write_bytes(bytes(data))
        with pytest.raises(ChecksumError) as err:
            load_predictor(out, processed)
        assert str(model) in str(err.value) and recorded in str(err.value) and sha256_file(model) in str(err.value)


# --- MLflow runs of dead processes ---------------------------------------------------------------------------


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_runs_of_a_dead_process_are_ended_killed_by_the_next_setup(tmp_path, monkeypatch):
    import mlflow

    from pipeline.config import BaseParams
    from pipeline.tracking import ENDED_BY, owner_tags, setup_mlflow

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    experiment_id = client.create_experiment("faults")
    host = socket.gethostname()
    runs = {
        "dead": {**owner_tags(), "owner_pid": str(_dead_pid())},
        "alive": owner_tags(),
        "elsewhere": {**owner_tags(), "owner_host": host + "-other", "owner_pid": str(_dead_pid())},
        "untagged": {},
    }
    ids = {name: client.create_run(experiment_id, run_name=name, tags=tags).info.run_id for name, tags in runs.items()}
    setup_mlflow(BaseParams(mlflow_tracking_uri=uri, mlflow_experiment="faults"))
    status = {name: client.get_run(run_id).info.status for name, run_id in ids.items()}
    assert status == {"dead": "KILLED", "alive": "RUNNING", "elsewhere": "RUNNING", "untagged": "RUNNING"}
    assert "was gone" in client.get_run(ids["dead"]).data.tags[ENDED_BY]


def test_a_signal_inside_a_with_start_run_block_ends_its_run_killed(tmp_path, monkeypatch):
    """``with mlflow.start_run()`` ends FAILED while a SIGTERM unwinds it; the stage's clean-up makes it KILLED and
    leaves a run that had failed before the signal as it was."""
    import mlflow

    from pipeline import tracking
    from pipeline.config import BaseParams

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tracking, "_STORES", set())  # this test's store only (a stage process has one)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        tracking.install_signal_handlers()
        tracking.setup_mlflow(BaseParams(mlflow_tracking_uri=uri, mlflow_experiment="faults"))
        with mlflow.start_run(run_name="failed-earlier", tags=tracking.owner_tags()) as earlier:
            pass
        mlflow.MlflowClient(uri).set_terminated(earlier.info.run_id, "FAILED")
        time.sleep(0.05)
        with pytest.raises(tracking.Stopped), mlflow.start_run(run_name="stage", tags=tracking.owner_tags()) as run:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises in here
        assert tracking.stop_signal() == signal.SIGTERM
        ended = tracking.end_own_runs("KILLED", "stopped by SIGTERM")
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        tracking._STOP.clear()
    client = mlflow.MlflowClient(uri)
    assert ended == [run.info.run_id] and client.get_run(run.info.run_id).info.status == "KILLED"
    assert client.get_run(earlier.info.run_id).info.status == "FAILED"


# --- killed stages (real subprocesses) -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tune_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("faults-data")
    with preprocessed_project(root, TUNE, 90):
        return root / "data" / "processed"


def _start_tune(workdir: Path, processed: Path) -> subprocess.Popen:
    write_params(workdir / "params.yaml", TUNE)
    shutil.copytree(processed, workdir / "data" / "processed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    env.update(PYTHONPATH=str(REPO), MLFLOW_DISABLE_TELEMETRY="true")
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", "tune", "lstm"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _runs(workdir: Path) -> list:
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    experiments = client.search_experiments()
    return client.search_runs([e.experiment_id for e in experiments]) if experiments else []


def _wait_for_a_running_trial(workdir: Path, proc: subprocess.Popen, settle: float = 0.0) -> None:
    """Return as soon as a trial's MLflow run is RUNNING (after ``settle`` more seconds, inside its training)."""
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        try:
            runs = _runs(workdir)
        except Exception:  # the store is being created
            continue
        if any(r.info.run_name.startswith("trial-") and r.info.status == "RUNNING" for r in runs):
            time.sleep(settle)
            return
    proc.kill()
    pytest.fail(f"no trial run seen RUNNING (exit {proc.poll()}): {proc.stderr.read()[-2000:] if proc.stderr else ''}")


@pytest.mark.slow
def test_sigterm_ends_the_stage_runs_killed_and_fails_its_trial(workdir, tune_data):
    import optuna

    proc = _start_tune(workdir, tune_data)
    _wait_for_a_running_trial(workdir, proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert stderr.strip().splitlines()[-1].startswith("stopped by SIGTERM: "), stderr[-3000:]
    status = {r.info.run_name: r.info.status for r in _runs(workdir)}
    trials = {n: s for n, s in status.items() if n.startswith("trial-")}
    assert status["tune-lstm"] == "KILLED" and "KILLED" in trials.values(), (status, stderr[-3000:])
    assert "RUNNING" not in status.values(), status
    storage = f"sqlite:///{workdir / 'optuna.db'}"
    (summary,) = optuna.get_all_study_summaries(storage)
    states = [t.state.name for t in optuna.load_study(study_name=summary.study_name, storage=storage).trials]
    assert "RUNNING" not in states and "FAIL" in states, states


@pytest.mark.slow
def test_sigkilled_stage_runs_are_ended_killed_by_the_next_run(workdir, tune_data):
    from pipeline.config import load_params
    from pipeline.stages.tune import tune
    from pipeline.tracking import ENDED_BY

    proc = _start_tune(workdir, tune_data)
    _wait_for_a_running_trial(workdir, proc)
    proc.kill()
    proc.wait()
    left = {r.info.run_id: r for r in _runs(workdir) if r.info.status == "RUNNING"}
    names = {r.info.run_name for r in left.values()}
    assert "tune-lstm" in names and any(n.startswith("trial-") for n in names), names
    report = tune(load_params(), "lstm")  # the next run of the stage, in this (another) process
    after = {r.info.run_id: r for r in _runs(workdir)}
    for run_id, run in left.items():
        if run.info.run_name.startswith("trial-"):  # the lost trial: ended KILLED, saying why
            assert after[run_id].info.status == "KILLED" and "was gone" in after[run_id].data.tags[ENDED_BY]
    parent = next(r for r in after.values() if r.info.run_name == "tune-lstm")
    assert parent.info.status == "FINISHED"  # reopened by the resumed study and closed at its end
    assert "RUNNING" not in {r.info.status for r in after.values()}
    assert report["states"]["COMPLETE"] == TUNE["tune.n_trials"]


@pytest.mark.slow
def test_a_sigtermed_training_ends_killed_and_the_next_run_resumes_it(workdir, tune_data):
    """``train`` stopped by SIGTERM after its first checkpoint: its run is KILLED, its state kept; the next run
    resumes from ``last.ckpt`` (loaded with ``weights_only=True``) in the same MLflow run, which ends FINISHED."""
    import mlflow

    from pipeline.config import load_params
    from pipeline.stages.train import train

    overrides = {**TUNE, "tune.architectures": [], "train.max_epochs": 60, "train.patience": 60}
    write_params(workdir / "params.yaml", overrides)
    shutil.copytree(tune_data, workdir / "data" / "processed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    env.update(PYTHONPATH=str(REPO), MLFLOW_DISABLE_TELEMETRY="true")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "train", "lstm"], cwd=workdir, env=env, stderr=subprocess.PIPE, text=True
    )
    last = workdir / "data" / "train-state" / "lstm" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while not last.is_file() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, f"the training ended before its first checkpoint: {proc.stderr.read()[-2000:]}"
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM and "stopped by SIGTERM" in stderr, stderr[-3000:]
    (killed,) = [r for r in _runs(workdir) if r.info.run_name == "train-lstm"]
    assert killed.info.status == "KILLED"
    assert last.is_file() and not (workdir / "models" / "lstm" / "run.json").exists()
    record = train(load_params(), "lstm")
    assert record.mlflow_run_id == killed.info.run_id and record.resumed_at_epoch is not None
    run = mlflow.MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}").get_run(killed.info.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["owner_pid"] == str(os.getpid())


@pytest.mark.slow
def test_a_tampered_registered_model_is_refused_by_the_gate_loader_and_serve(tmp_path):
    """Registering records the sha256 of the pyfunc's pickles as version tags; after one byte of the stored
    ``python_model.pkl`` changes, loading the version is refused (``serve`` says so in one line)."""
    import mlflow
    import pandas as pd

    from pipeline.serving.pyfunc import TAG_PREFIX, TREE, load_registered
    from pipeline.serving.registration import register
    from pipeline.stages.evaluate import evaluate

    overrides = {
        "train.architectures": ["tfidf_linear"],
        "tune.architectures": [],
        "evaluate.bootstrap_resamples": 20,
        "evaluate.explain_documents": 0,
    }
    with preprocessed_project(tmp_path, overrides, 60) as params:
        from pipeline.stages.train import train

        train(params, "tfidf_linear")
        evaluate(params)
        registered = register(params)
        client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
        name, version = registered["name"], registered["version"]
        tags = client.get_model_version(name, version).tags
        assert "python_model.pkl" in registered["sha256"] and TREE in registered["sha256"]
        assert any(rel.endswith("/model.joblib") for rel in registered["sha256"])
        assert all(tags[TAG_PREFIX + rel] == digest for rel, digest in registered["sha256"].items())
        labels = json.loads((tmp_path / "data/processed/classes.json").read_text(encoding="utf-8"))["labels"]
        (label,) = load_registered(client, name, version).predict(pd.DataFrame({"text": ["رائع"]}))["label"]
        assert label in labels
        (stored,) = [p for p in tmp_path.rglob("python_model.pkl") if "pyfunc-" not in str(p)]
        stored.write_bytes(stored.read_bytes() + b"\0")
        with pytest.raises(ChecksumError) as err:
            load_registered(client, name, version)
        assert "python_model.pkl" in str(err.value) and registered["sha256"]["python_model.pkl"] in str(err.value)
        stored.write_bytes(stored.read_bytes()[:-1])  # restored; now the stored code changes
        (module,) = [p for p in tmp_path.rglob("code/pipeline/serving/pyfunc.py") if "pyfunc-" not in str(p)]
        original = module.read_text(encoding="utf-8")
        module.write_text(original + "\nprint('injected')\n", encoding="utf-8")
        with pytest.raises(ChecksumError, match="code/ included"):
            load_registered(client, name, version)
        module.write_text(original, encoding="utf-8")
        stored.write_bytes(stored.read_bytes() + b"\0")
    env = {"PYTHONPATH": str(REPO), "MLFLOW_DISABLE_TELEMETRY": "true", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "serve", "--port", "1", "--model", f"models:/{name}@champion"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1 and "does not match the recorded" in errors[0], done.stderr
    assert "Traceback" not in done.stderr
    # A version registered before checksums existed is refused until adopted (trust on first use).
    stored.write_bytes(stored.read_bytes()[:-1])
    for key in [k for k in client.get_model_version(name, version).tags if k.startswith(TAG_PREFIX)]:
        client.delete_model_version_tag(name, version, key)
    with pytest.raises(ChecksumError, match="no sha256 recorded"):
        load_registered(client, name, version)
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.serving.pyfunc"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert client.get_model_version(name, version).tags[TAG_PREFIX + TREE] == registered["sha256"][TREE]
