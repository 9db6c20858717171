"""Params profiles (``python -m pipeline profile NAME``): the ``dvc exp run -S`` line they print, applied by DVC's own
override code, gives a valid params.yaml holding exactly the profile's values; bad profiles fail in one line."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline import profiles
from pipeline.config import ParamsError, load_params

REPO = Path(__file__).resolve().parents[1]


def dotted(data: dict, key: str):
    for part in key.split("."):
        data = data[part]
    return data


@pytest.mark.parametrize("name", profiles.names())
def test_dvc_applies_the_profile_to_a_valid_params_file(name, tmp_path):
    from dvc.utils.hydra import apply_overrides

    out = subprocess.run(
        [sys.executable, "-m", "pipeline", "profile", name], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    cmd = shlex.split(out)
    assert cmd[:3] == ["dvc", "exp", "run"]
    overrides = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "-S"]
    expected = profiles.load_profile(name)
    assert len(overrides) == len(expected) > 0
    params = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", params)
    apply_overrides(params, overrides)  # what `dvc exp run -S` does to params.yaml
    load_params(params)  # valid
    data = yaml.safe_load(params.read_text(encoding="utf-8"))
    for key, value in expected.items():
        assert dotted(data, key) == value, key
    before = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    assert before["train"]["hidden_dim"] != data["train"]["hidden_dim"]  # the demo's values really change


def test_full_profile_grows_the_demo():
    demo, full = load_params(REPO / "params.yaml"), profiles.load_profile("full")
    assert full["train.hidden_dim"] > demo.train.hidden_dim
    assert set(demo.train.architectures) < set(full["train.architectures"])
    assert full["finetune.architectures"] and not demo.finetune.architectures


def test_unknown_profile_is_a_one_line_error():
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "profile", "huge"], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "'huge'" in proc.stderr
    assert "allowed: full" in proc.stderr and "Traceback" not in proc.stderr


def test_a_key_params_yaml_lacks_is_refused():
    with pytest.raises(ParamsError, match=r"'train\.hiden_dim' is not a params\.yaml key"):
        profiles.apply({"train": {"hidden_dim": 32}}, {"train.hiden_dim": 64})


def test_a_value_the_schema_refuses_fails_before_dvc(tmp_path, monkeypatch):
    (tmp_path / "bad.yaml").write_text("train.hidden_dim: -4\n", encoding="utf-8")
    monkeypatch.setattr(profiles, "PROFILES_DIR", tmp_path)
    with pytest.raises(ParamsError, match="hidden_dim"):
        profiles.command("bad", REPO / "params.yaml")


@pytest.mark.parametrize("value", ["two words", "true", {"a": 1}])
def test_values_hydra_would_misread_are_refused(value):
    with pytest.raises(ParamsError, match=r"train\.pooling"):
        profiles.hydra_value("train.pooling", value)
