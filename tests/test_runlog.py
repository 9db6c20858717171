"""The run log: an output's execution facts beside the project, found from the output's path alone."""

import json

import pytest

from pipeline import runlog
from pipeline.training.run_record import VOLATILE, RunRecord


def test_side_file_is_under_the_project_root_whatever_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n", encoding="utf-8")
    out = tmp_path / "models" / "lstm" / "run.json"
    expected = tmp_path / ".runs" / "models" / "lstm" / "run.json"
    assert runlog.side_path(out) == expected
    monkeypatch.chdir(tmp_path / "..")
    assert runlog.side_path(out) == expected  # another working directory: the same file
    assert runlog.side_path(tmp_path / "data" / "raw") == tmp_path / ".runs" / "data" / "raw.json"


def test_a_params_file_marks_a_project_too(tmp_path):
    (tmp_path / "params.yaml").write_text("{}\n", encoding="utf-8")
    assert runlog.side_path(tmp_path / "models" / "x" / "run.json") == tmp_path / ".runs" / "models/x/run.json"


def test_outside_a_project_the_side_file_is_beside_the_output(tmp_path):
    assert runlog.side_path(tmp_path / "x" / "registry.json") == tmp_path / "x" / ".runs" / "registry.json"


def test_split_write_read_and_merge(tmp_path):
    kept, facts = runlog.split({"a": 1, "run_id": "r1", "time_s": None}, {"run_id", "time_s"})
    assert kept == {"a": 1} and facts == {"run_id": "r1"}  # None facts are not recorded
    out = tmp_path / "out.json"
    assert runlog.read(out) == {}  # never run here (or pulled from a remote)
    runlog.write(out, facts)
    assert runlog.merged(out, kept) == {"run_id": "r1", "a": 1}
    runlog.write(out, {})  # the next run replaces the last one's facts
    assert runlog.read(out) == {}
    runlog.side_path(out).write_text("{not json", encoding="utf-8")
    assert runlog.read(out) == {}  # a damaged side file is no fact, not a crash


def _record(**extra) -> RunRecord:
    base = dict(arch="cnn", stage="train", family="cnn", seed=1, versions={}, params={}, parameters=10)
    return RunRecord(**base, device="cpu", precision="32", epochs_run=1, checkpoint="best.ckpt", **extra)


def test_run_record_keeps_execution_facts_in_the_run_log(tmp_path):
    folder = tmp_path / "models" / "cnn"
    folder.mkdir(parents=True)
    facts = {"git_commit": "abc", "train_time_s": 1.5, "mlflow_run_id": "r1", "latency_ms_per_doc": {"batch_1": 0.2}}
    _record(**facts).save(folder)
    saved = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    assert not set(saved) & VOLATILE and saved["parameters"] == 10
    assert runlog.read(folder / "run.json") == facts
    assert RunRecord.load(folder).mlflow_run_id == "r1" and RunRecord.load(folder).train_time_s == 1.5
    assert RunRecord.load(folder, run_log=False).mlflow_run_id is None  # what a report may show
    first = (folder / "run.json").read_bytes()
    _record(git_commit="def", train_time_s=9.0, mlflow_run_id="r2").save(folder)
    assert (folder / "run.json").read_bytes() == first  # another run of the same training: the same bytes


@pytest.mark.parametrize("field", sorted(VOLATILE))
def test_every_execution_fact_is_optional_in_a_record(field):
    assert RunRecord.model_fields[field].is_required() is False
