"""Issue #19: ``.venv/bin/dvc repro`` works without the venv on ``PATH`` (stage commands are ``python -m pipeline
<stage>``, and the first ``python`` on ``PATH`` may lack the project's packages)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, write_params

BARE_PYTHON = shutil.which("python3", path="/usr/bin:/bin")


def _bare_python_lacks_packages() -> bool:
    if BARE_PYTHON is None:
        return False
    proc = subprocess.run([BARE_PYTHON, "-c", "import pydantic"], capture_output=True, env={"PATH": "/usr/bin:/bin"})
    return proc.returncode != 0


pytestmark = pytest.mark.skipif(
    not _bare_python_lacks_packages(), reason="needs a python3 in /usr/bin without the project's packages"
)


def bare_project(root: Path, tmp_path: Path) -> dict[str, str]:
    """A project in ``root`` with one stage, ``python -m pipeline check``; the environment of a shell whose ``python``
    is a bare interpreter (no venv on ``PATH``)."""
    root.mkdir()
    write_params(root / "params.yaml")
    stage = {"cmd": "python -m pipeline check", "params": ["base.seed"]}
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"check": stage}}), encoding="utf-8")
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "python").symlink_to(BARE_PYTHON)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING", "VIRTUAL_ENV", "PIPELINE_"))}
    env.update(PATH=f"{bare}:/usr/bin:/bin", PYTHONPATH=str(REPO), DVC_NO_ANALYTICS="1", HOME=str(tmp_path))
    return env


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """:func:`bare_project` as a DVC project without git."""
    root = tmp_path / "proj"
    env = bare_project(root, tmp_path)
    dvc = Path(sys.executable).parent / "dvc"
    subprocess.run([str(dvc), "init", "--no-scm", "-q"], cwd=root, env=env, check=True, timeout=120)
    return root, env


def _repro(root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    dvc = Path(sys.executable).parent / "dvc"
    return subprocess.run([str(dvc), "repro", "-f"], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_venv_dvc_runs_stages_with_its_own_interpreter(project):
    root, env = project
    proc = _repro(root, env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "params.yaml is valid" in proc.stdout + proc.stderr


def test_without_the_relaunch_the_bare_python_fails(project):
    root, env = project
    proc = _repro(root, {**env, "PIPELINE_REEXEC": "1"})  # as if already relaunched: the bare python runs it
    assert proc.returncode != 0
    assert "ModuleNotFoundError" in proc.stdout + proc.stderr


def test_pipeline_python_names_the_interpreter(project, tmp_path):
    root, env = project
    proc = _repro(root, {**env, "PIPELINE_PYTHON": sys.executable})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_venv_dvc_exp_run_works_too(tmp_path):
    root = tmp_path / "exp"
    env = bare_project(root, tmp_path)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    dvc = str(Path(sys.executable).parent / "dvc")
    for args in (["git", "init", "-q"], [dvc, "init", "-q"], [*git, "add", "-A"], [*git, "commit", "-qm", "init"]):
        subprocess.run(args, cwd=root, env=env, check=True, capture_output=True, timeout=120)
    proc = subprocess.run(
        [dvc, "exp", "run", "-S", "base.seed=7"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "params.yaml is valid" in proc.stdout + proc.stderr
