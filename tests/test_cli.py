"""``python -m pipeline``: every stage listed and runnable by name, each with ``--help``; one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.__main__ import stages
from tests.conftest import REPO

STAGE_FILES = sorted(p.stem for p in (REPO / "pipeline" / "stages").glob("*.py") if not p.stem.startswith("_"))


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_help_lists_every_stage_with_one_line_each():
    out = run("--help")
    assert out.returncode == 0
    listed = [line.split()[0] for line in out.stdout.splitlines() if line.startswith("  ")]
    assert set(STAGE_FILES) <= set(listed) and "embeddings" in listed
    assert set(stages()) == set(STAGE_FILES)
    for name, summary in stages().items():
        assert summary and "\n" not in summary, name


def test_help_says_what_each_stage_reads_and_writes():
    import yaml

    out = run("--help").stdout
    blocks = {}  # stage -> its lines under the listing
    for line in out.split("\nother commands:")[0].splitlines():
        if line.startswith("  ") and not line.startswith("   "):
            current = blocks.setdefault(line.split()[0], [])
        elif line.startswith("   ") and blocks:
            current.append(line.strip())
    spec = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    for name, stage in spec.items():
        text = " ".join(blocks[name])
        outs = [next(iter(o)) if isinstance(o, dict) else o for o in stage.get("do", stage)["outs"]]
        assert text.startswith("reads: ") and "writes: " in text, name
        for path in outs:
            assert path.replace("${item}", "<item>") in text.split("writes: ")[1], (name, path)
    assert "writes: reports/generation/metrics.json" in out and "pipeline/cli.py" not in out  # code deps left out


@pytest.mark.parametrize("stage", STAGE_FILES)
def test_every_stage_has_help(stage):
    out = run(stage, "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: python -m pipeline " + stage)


def test_unknown_command_is_one_line():
    out = run("trian")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "unknown command 'trian'" in out.stderr and "train" in out.stderr


def test_train_refuses_a_pretrained_transformer_instead_of_fitting_tfidf(tmp_path):
    """``train bert`` used to fit TF-IDF silently under the name bert."""
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    out = run("train", "bert", cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "pretrained transformer" in out.stderr and "python -m pipeline finetune bert" in out.stderr
    assert not (tmp_path / "models").exists()
