import subprocess
import sys

import pytest
import yaml

from pipeline.config import ParamsError, load_params, parse_params
from pipeline.models.registry import ARCHITECTURES
from tests.conftest import REPO, write_params


def test_repo_params_are_valid_and_every_field_is_described():
    params = load_params(REPO / "params.yaml")
    assert set(params.train.architectures) >= {"lstm", "gru"}

    def walk(model):
        for name, field in type(model).model_fields.items():
            value = getattr(model, name)
            if hasattr(type(value), "model_fields"):
                walk(value)
            elif type(model).__name__ != "Params":
                assert field.description, f"{type(model).__name__}.{name} has no description"

    walk(params)


def test_omitted_sections_take_their_defaults_and_an_empty_file_is_an_error():
    assert parse_params({}).train.lr == parse_params({"base": {}}).train.lr == 3e-3
    with pytest.raises(ParamsError, match="the file is empty"):
        parse_params(None)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"train": {"architectures": ["lsmt"]}}, ["train.architectures", "'lsmt'", "lstm", "gru", "bilstm"]),
        ({"trian": {}}, ["trian", "unknown key", "train", "preprocess"]),
        ({"train": {"lerning_rate": 0.1}}, ["train.lerning_rate", "unknown key", "lr"]),
        ({"train": {"lr": "fast"}}, ["train.lr", "'fast'"]),
        ({"preprocess": {"stemmer": "porter"}}, ["preprocess.stemmer", "light", "isri", "snowball", "'porter'"]),
        ({"preprocess": {"bins": {"edges": [7, 4]}}}, ["preprocess.bins", "increasing"]),
        ({"preprocess": {"bins": {"edges": [4], "labels": ["a", "b", "c"]}}}, ["needs 2 labels"]),
        ({"scrape": {"site": "urls"}}, ["scrape", "start_urls"]),
        ({"scrape": {"site": "urls", "start_urls": ["ftp://x"]}}, ["ftp://x", "http"]),
        ({"train": {"max_epochs": 0}}, ["train.max_epochs", "greater than or equal to 1"]),
    ],
)
def test_invalid_params_name_the_key_and_allowed_values(data, expected):
    with pytest.raises(ParamsError) as err:
        parse_params(data)
    for fragment in expected:
        assert fragment in str(err.value)


def test_missing_and_unparsable_files(tmp_path):
    with pytest.raises(ParamsError, match="file not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text("train: [unclosed\n", encoding="utf-8")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(bad)


def test_registry_covers_the_recurrent_family():
    assert {"rnn", "birnn", "gru", "bigru", "lstm", "bilstm"} <= set(ARCHITECTURES)


@pytest.mark.parametrize("stage", ["preprocess", "train", "evaluate"])
def test_stage_fails_before_any_work_on_bad_params(tmp_path, stage):
    write_params(tmp_path / "params.yaml", {"train.architectures": ["lstm", "transformr"]})
    raw = tmp_path / "data" / "raw"
    raw.mkdir(parents=True)
    (raw / "docs.jsonl").write_text('{"url": "u", "text": "نص", "score": 5}\n', encoding="utf-8")
    args = [sys.executable, "-m", "pipeline", stage] + (["lstm"] if stage == "train" else [])
    proc = subprocess.run(
        args,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 2, proc.stderr
    assert "train.architectures" in proc.stderr and "'transformr'" in proc.stderr
    assert "Traceback" not in proc.stderr
    # nothing was produced and the existing data is untouched
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["docs.jsonl", "params.yaml"]


def test_dvc_yaml_train_stages_list_only_real_train_keys():
    dvc = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))
    train_keys = {f"train.{k}" for k in type(load_params(REPO / "params.yaml").train).model_fields}
    listed = set(dvc["stages"]["train"]["do"]["params"])
    assert {k for k in listed if k.startswith("train.")} == train_keys - {"train.architectures"}
