"""Issue #19: params that cannot be half-wrong. Each hole gives a one-line error per problem naming the key, the
value and what is allowed, before any work, with no traceback."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.config import ParamsError, load_params, parse_params
from pipeline.config.schema import format_value, keys
from tests.conftest import REPO, write_params


def run_check(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *(args or ("check",))],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def params_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("train:\n  lr: .inf\n", ["train.lr", "finite number", "inf"]),
        ("train:\n  lr: .nan\n", ["train.lr", "finite number", "nan"]),
        ("train:\n  batch_size: true\n", ["train.batch_size", "valid integer", "True"]),
        ("train:\n  seeds: [1, false]\n", ["train.seeds.1", "valid integer", "False"]),
        ("train:\n  dropout: yes\n", ["train.dropout", "valid number", "True"]),
        ("base:\n  raw_dir: 12\n", ["base.raw_dir", "valid string", "12"]),
    ],
)
def test_non_finite_numbers_and_booleans_as_numbers_are_rejected(tmp_path, text, fragments):
    with pytest.raises(ParamsError) as err:
        load_params(params_file(tmp_path, text))
    for fragment in fragments:
        assert fragment in str(err.value)


def test_a_boolean_is_not_a_tunable_integer_either():
    space = {"train.batch_size": {"type": "categorical", "choices": [16, True]}}
    with pytest.raises(ParamsError, match=r"train.batch_size: True is not a valid value"):
        parse_params({"tune": {"search_space": space}})


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("train:\n  lr: 0.1\n  batch_size: 8\n  lr: 0.2\n", 4, "lr"),
        ("train:\n  lr: 0.1\nbase:\n  seed: 1\ntrain:\n  batch_size: 8\n", 5, "train"),
    ],
)
def test_duplicate_keys_are_errors(tmp_path, text, line, key):
    with pytest.raises(ParamsError) as err:
        load_params(params_file(tmp_path, text))
    assert f"line {line}: key {key!r} appears twice" in str(err.value)


def test_non_utf8_params_is_one_line_without_traceback(tmp_path):
    (tmp_path / "params.yaml").write_bytes("train:\n  lr: 0.1\nreport:\n  title: 'تقرير'\n".encode("windows-1256"))
    proc = run_check(tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "params.yaml: line 4" in proc.stderr and "not UTF-8" in proc.stderr


@pytest.mark.parametrize("text", ["", "# only a comment\n"])
def test_empty_params_is_an_error(tmp_path, text):
    params_file(tmp_path, text)
    proc = run_check(tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "params.yaml: the file is empty" in proc.stderr and "train.architectures" in proc.stderr


def _documented_defaults() -> dict[str, str]:
    """``section.key`` → the default the README's params reference shows."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- params:begin -->", 1)[1].split("<!-- params:end -->", 1)[0]
    found, section = {}, ""
    for line in block.splitlines():
        if m := re.match(r"### `(\w+)`", line):
            section = m.group(1)
        elif m := re.match(r"\| `([^`]+)` \| .*? \| `(.*?)` \| ", line):
            found[f"{section}.{m.group(1)}"] = m.group(2).replace("\\|", "|")
    return found


def test_omitted_keys_take_the_documented_defaults():
    documented = _documented_defaults()
    running = parse_params({"base": {}})
    compared = 0
    for section in type(running).model_fields:
        for key in keys(type(getattr(running, section))):
            if "<name>" in key.key:
                continue
            value: object = getattr(running, section)
            for part in key.key.split("."):
                value = getattr(value, part)
            assert documented[f"{section}.{key.key}"] == format_value(value), f"{section}.{key.key}"
            compared += 1
    assert compared > 200 and compared == len([k for k in documented if "<name>" not in k])


def test_tuned_architectures_must_be_trained():
    with pytest.raises(ParamsError) as err:
        parse_params({"train": {"architectures": ["gru"]}, "tune": {"architectures": ["lstm"]}})
    assert "tune.architectures: 'lstm' is not in train.architectures (gru)" in str(err.value)
    assert parse_params({"train": {"architectures": ["gru"]}, "tune": {"architectures": []}})


def _project(tmp_path: Path, overrides: dict) -> Path:
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    write_params(tmp_path / "params.yaml", overrides)
    return tmp_path


def test_repo_params_agree_with_dvc_yaml():
    proc = run_check(REPO)
    assert proc.returncode == 0, proc.stderr
    assert "params.yaml is valid" in proc.stdout


@pytest.mark.parametrize(
    ("key", "value", "stage"),
    [
        ("base.processed_dir", "data/clean", "preprocess"),
        ("base.raw_dir", "data/scraped", "scrape"),
        ("base.models_dir", "artifacts", "train"),
    ],
)
def test_folders_disagreeing_with_dvc_outs_stop_check_and_stages(tmp_path, key, value, stage):
    root = _project(tmp_path, {key: value})
    proc = run_check(root)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{key}: {value!r} is not" in proc.stderr and f"dvc.yaml's {stage} stage" in proc.stderr
    proc = run_check(root, "preprocess")
    assert proc.returncode == 2 and f"{key}: {value!r}" in proc.stderr
    assert sorted(p.name for p in root.iterdir()) == ["dvc.yaml", "params.yaml"]  # nothing was written


def _write_source(path: Path, rows: list[dict]) -> None:
    if path.suffix in (".csv", ".tsv"):
        sep = "," if path.suffix == ".csv" else "\t"
        lines = [sep.join(rows[0])] + [sep.join(str(v) for v in r.values()) for r in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_check_reads_the_header_of_a_file_source(tmp_path, suffix):
    source = tmp_path / f"reviews{suffix}"
    _write_source(source, [{"review": "نص جيد", "label": "pos"}, {"review": "نص سيء", "label": "neg"}])
    base = {"data.source": "file", "data.path": str(source), "data.score_column": None}
    write_params(tmp_path / "params.yaml", {**base, "data.text_column": "review", "data.label_column": "lable"})
    proc = run_check(tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "missing column(s) lable; the file has: review, label (set data.label_column 'lable')" in proc.stderr
    write_params(tmp_path / "params.yaml", {**base, "data.text_column": "review", "data.label_column": "label"})
    assert run_check(tmp_path).returncode == 0
    write_params(tmp_path / "params.yaml", {**base, "data.label_column": "label"})
    proc = run_check(tmp_path)
    assert proc.returncode == 2 and "(set data.text_column 'text')" in proc.stderr


def test_dvc_yaml_outs_follow_params_interpolation(tmp_path):
    from pipeline.config.layout import stage_outs

    params = load_params(REPO / "params.yaml")
    outs = stage_outs(params, REPO / "dvc.yaml")
    assert params.base.processed_dir in outs["preprocess"]
    assert f"{params.tune.output_dir}/${{item}}.json" in outs["tune"]
    assert yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]["tune"]["do"]["outs"]
