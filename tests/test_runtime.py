"""The CPU thread policy (pipeline/runtime.py) and the one place the Lightning Trainer is built."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.runtime import ENV_THREADS, available_cores, intra_op_threads, threads_for_load

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


def test_apply_sets_intra_and_inter_op_threads_and_says_whether_it_adapts():
    env = {k: v for k, v in os.environ.items() if k != ENV_THREADS}
    code = (
        "import torch\n"
        "from pipeline.runtime import apply_thread_policy\n"
        "fixed = apply_thread_policy(1)\n"
        "set_now = torch.get_num_threads(), torch.get_num_interop_threads()\n"
        "print(*set_now, fixed.adaptive, apply_thread_policy().adaptive)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1", "1", "False", "True"]


def test_threads_follow_the_cores_other_processes_leave_free():
    cores = available_cores()
    assert threads_for_load(cores, 0.03) == cores  # an idle machine
    assert threads_for_load(cores, 0.45) == max(1, cores - 1)  # one competitor, crowded by our two threads
    assert threads_for_load(cores, 1.0) == max(1, cores - 1)
    assert threads_for_load(cores, cores + 3.0) == 1
    assert threads_for_load(1, 0.0) == 1  # never above the ceiling


@pytest.mark.skipif(not Path("/proc/stat").is_file() or available_cores() < 2, reason="needs Linux and 2 cores")
def test_a_busy_competitor_is_seen_and_the_governor_gives_its_core_back():
    """A real CPU-bound process (bounded to 20 s, stopped by the test) is measured as about one more busy core
    than before it started, and the fit's thread governor lowers the thread count; on an otherwise idle
    machine it rises back to every core once the process is gone."""
    import time

    import torch

    from pipeline.runtime import CpuLoad
    from pipeline.training.callbacks import ThreadGovernor

    before = torch.get_num_threads()
    load = CpuLoad()
    time.sleep(0.6)
    baseline = load.others()
    if baseline > available_cores() - 0.8:  # other processes already fill the cores: a competitor cannot show
        pytest.skip(f"the machine is busy ({baseline:.1f} of {available_cores()} cores used by other processes)")
    spin = "import time\nend = time.time() + 20\nwhile time.time() < end:\n    pass\n"
    competitor = subprocess.Popen([sys.executable, "-c", spin])
    try:
        time.sleep(0.3)
        load.others()  # start a window with the competitor running
        time.sleep(0.6)
        assert 0.4 < load.others() - baseline < 1.7  # about one core (the machine's other load varies a little)
        torch.set_num_threads(available_cores())
        governor = ThreadGovernor(available_cores(), interval_s=0.0)
        time.sleep(0.6)
        governor.on_train_batch_start(None, None, None, 0)
        assert torch.get_num_threads() < available_cores() and governor.changes == 1
    finally:
        competitor.kill()
        competitor.wait()
    try:
        time.sleep(0.6)
        governor.on_train_batch_start(None, None, None, 1)
        if baseline < 0.2:  # nothing else was busy: every core is free again
            assert torch.get_num_threads() == available_cores() and governor.changes == 2
    finally:
        torch.set_num_threads(before)


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
