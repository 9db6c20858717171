"""The CPU thread policy (pipeline/runtime.py) and the one place the Lightning Trainer is built."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.runtime import ENV_THREADS, available_cores, intra_op_threads

REPO = Path(__file__).resolve().parents[1]


def test_threads_default_to_the_available_cores_shared_out(monkeypatch):
    monkeypatch.delenv(ENV_THREADS, raising=False)
    cores = len(os.sched_getaffinity(0))
    assert available_cores() == cores
    assert intra_op_threads() == cores
    assert intra_op_threads(processes=cores) == 1
    assert intra_op_threads(processes=cores * 4) == 1  # never zero
    assert intra_op_threads(requested=3) == 3


def test_environment_overrides_the_param(monkeypatch):
    monkeypatch.setenv(ENV_THREADS, "5")
    assert intra_op_threads(requested=2, processes=2) == 5
    monkeypatch.setenv(ENV_THREADS, "many")
    with pytest.raises(ValueError, match="PIPELINE_NUM_THREADS='many'"):
        intra_op_threads()


def test_importing_the_package_sets_a_passive_wait_policy_before_torch_loads():
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", ENV_THREADS)}
    code = (
        "import os, pipeline, torch\n"
        "from pipeline.runtime import apply_thread_policy\n"
        "s = apply_thread_policy(1)\n"
        "print(os.environ['OMP_WAIT_POLICY'], torch.get_num_threads(), torch.get_num_interop_threads(), s.intra_op)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["PASSIVE", "1", "1", "1"]
    # a user's own choice is kept
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == "ACTIVE"


def _trainer_calls(path: Path) -> int:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return sum(
        1
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (getattr(node.func, "attr", None) == "Trainer" or getattr(node.func, "id", None) == "Trainer")
    )


def test_the_lightning_trainer_is_built_in_one_place_only():
    calls = {str(p.relative_to(REPO)): n for p in (REPO / "pipeline").rglob("*.py") if (n := _trainer_calls(p))}
    assert calls == {"pipeline/training/fit.py": 1}


def test_training_constants_are_defined_once():
    """The monitored metric and the resume-free keys used to be defined in four places."""
    defined: dict[str, list[str]] = {}
    for path in (REPO / "pipeline").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name) and ("MONITOR" in target.id or target.id == "RESUME_FREE"):
                        defined.setdefault(target.id, []).append(str(path.relative_to(REPO)))
    assert defined == {
        "CLASSIFIER_MONITOR": ["pipeline/training/fit.py"],
        "LM_MONITOR": ["pipeline/training/fit.py"],
        "RESUME_FREE": ["pipeline/training/fit.py"],
    }


def test_cpu_ddp_processes_share_the_cores():
    from pipeline.config import TrainParams
    from pipeline.training.fit import processes_per_machine

    assert processes_per_machine(TrainParams(accelerator="cpu", devices=2, strategy="ddp_spawn")) == 2
    assert processes_per_machine(TrainParams(accelerator="cpu")) == 1
    assert intra_op_threads(processes=processes_per_machine(TrainParams(accelerator="cpu", devices=2))) == max(
        1, available_cores() // 2
    )
