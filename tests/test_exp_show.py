"""The README's ``dvc exp show`` recipe (issue 19 item 5): it runs on this project and fits a 120-column terminal,
with an experiment row under the baseline."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.snapshot import snapshot_repo

DVC = Path(sys.executable).parent / "dvc"


def readme_recipe() -> list[str]:
    """The ``dvc exp show`` command of the README's Experiments section, as arguments."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```\n(\.venv/bin/dvc exp show --no-pager[^`]*)```", text)
    assert block, "README: no `dvc exp show --no-pager` recipe"
    import shlex

    return shlex.split(block.group(1).replace("\\\n", " "))[1:]


@pytest.mark.slow
def test_exp_show_recipe_fits_120_columns(tmp_path):
    if not DVC.is_file():
        pytest.skip(f"{DVC} not installed")
    proj = snapshot_repo(REPO, tmp_path / "proj", drop=())  # with dvc.lock and the committed metrics
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost"]
    base = subprocess.run(["git", "rev-parse", "HEAD"], cwd=proj, capture_output=True, text=True).stdout.strip()
    params = (proj / "params.yaml").read_text(encoding="utf-8")
    (proj / "params.yaml").write_text(params.replace("\n  lr: 0.003\n", "\n  lr: 0.0015\n", 1), encoding="utf-8")
    subprocess.run([*git, "commit", "-qam", "experiment"], cwd=proj, check=True)
    exp = subprocess.run(["git", "rev-parse", "HEAD"], cwd=proj, capture_output=True, text=True).stdout.strip()
    subprocess.run(["git", "reset", "-q", "--hard", base], cwd=proj, check=True)
    # an experiment as `dvc exp run` leaves one: a commit on the baseline under refs/exps/<base[:2]>/<base[2:]>/
    name = "lr-half-sweep-01"  # longer than DVC's own names (two words)
    subprocess.run(["git", "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/{name}", exp], cwd=proj, check=True)

    env = {**os.environ, "COLUMNS": "1000", "DVC_NO_ANALYTICS": "1"}  # let the table take its natural width
    out = subprocess.run([str(DVC), *readme_recipe()], cwd=proj, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = [line.rstrip() for line in out.stdout.splitlines() if line.strip()]
    assert max(len(line) for line in lines) <= 120, out.stdout
    header = lines[1].split()
    columns = ["lstm.f1_macro", "tfidf_linear.f1_macro", "gpt2.perplexity", "class_agreement", "train.lr"]
    assert header == ["Experiment", *columns]
    assert lines[3].split()[0] == "workspace" and "0.003" in lines[3].split()
    exp_row = next(line for line in lines if f"[{name}]" in line)
    assert exp_row.split()[-1] == "0.0015" and "…" not in out.stdout
