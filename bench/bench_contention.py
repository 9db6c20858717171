"""Benchmark: training throughput on an idle machine and beside a CPU-bound competitor.

Trains the demo's LSTM classifier and LSTM language model (the one fit, as the train and train_lm stages
do, in a temporary project over the repo's ``data/processed`` and ``models/lm/tokenizer``; run
``dvc repro lm_tokenizer`` first, which the benchmark does itself when they are missing), each in a fresh
process, twice: once on the idle machine and once while a competitor process that this benchmark starts
and stops itself spins on one core (a bounded pure-Python loop). Throughput is token positions per second
of training batches (validation excluded).

Two thread policies, measured in the same run:
- ``policy``: the project's (``pipeline/runtime.py``): intra-op threads = the available cores, lowered to
  the free cores while other processes keep some busy (checked every second), one inter-op thread;
- ``torch_default``: what the project did before: torch's default thread count (the cores), fixed.

Writes ``reports/bench/contention.json``: ``models`` = ``{model: {idle_tokens_per_s,
contended_tokens_per_s, ratio}}`` under the policy, ``threads`` (the settings used), ``torch_default``
(the same figures with the old behaviour) and ``machine``. ``CONTENTION_EPOCHS`` (default 2) caps epochs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, save, table

EPOCHS = int(os.environ.get("CONTENTION_EPOCHS", "2"))
MODELS = ("classifier_lstm", "lstm_lm")
COMPETITOR_MAX_S = 900  # the competitor stops by itself after this, whatever happens to the benchmark
POLICIES = {
    "policy": {},  # the project's defaults (pipeline/runtime.py)
    "torch_default": {"PIPELINE_NUM_THREADS": str(len(os.sched_getaffinity(0)))},
}


def ensure_inputs() -> None:
    """The processed demo splits and the LM tokenizer, made by DVC when missing."""
    if (REPO / "data" / "processed" / "train.jsonl").is_file() and (REPO / "models" / "lm" / "tokenizer").is_dir():
        return
    subprocess.run([str(Path(sys.executable).parent / "dvc"), "repro", "lm_tokenizer"], cwd=REPO, check=True)


def make_project(folder: Path) -> None:
    """A temporary project over the repo's processed data and tokenizer, with short trainings."""
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params["base"].update(mlflow_tracking_uri=f"sqlite:///{folder / 'mlflow.db'}", models_dir="models")
    params["base"]["processed_dir"] = str(REPO / "data" / "processed")
    params["train"].update(max_epochs=EPOCHS, patience=EPOCHS, resume=False, state_dir=str(folder / "state"))
    params["generate"]["train"].update(
        max_epochs=EPOCHS, patience=EPOCHS, resume=False, state_dir=str(folder / "lm-state")
    )
    (folder / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    (folder / "models" / "lm").mkdir(parents=True)
    shutil.copytree(REPO / "models" / "lm" / "tokenizer", folder / "models" / "lm" / "tokenizer")


WORKER = """
import json, sys
from pathlib import Path
from pipeline.config import load_params
from pipeline.runtime import apply_thread_policy
params = load_params()
if sys.argv[1] == "lstm_lm":
    from pipeline.generation.training import train_lm
    rec = train_lm(params, "lstm_lm")
else:
    from pipeline.training.classifier import train_network
    rec = train_network(params, "lstm", Path("models/lstm"), Path(params.train.state_dir) / "lstm")
settings = apply_thread_policy(params.train.num_threads).as_dict()
print("RESULT " + json.dumps({"tokens_per_s": rec.train_tokens_per_s, "threads": settings}))
"""


def run_model(model: str, folder: Path, env_extra: dict[str, str]) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING") and k != "PIPELINE_NUM_THREADS"}
    env.update(env_extra, PYTHONPATH=str(REPO), MLFLOW_DISABLE_TELEMETRY="true")
    proc = subprocess.run(
        [sys.executable, "-c", WORKER, model], cwd=folder, env=env, capture_output=True, text=True, timeout=1800
    )
    if proc.returncode != 0:
        raise SystemExit(f"{model}: training failed:\n{proc.stderr[-3000:]}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def start_competitor() -> subprocess.Popen:
    """One CPU-bound process on one core, bounded in time."""
    code = f"import time\nend = time.time() + {COMPETITOR_MAX_S}\nwhile time.time() < end:\n    pass\n"
    return subprocess.Popen([sys.executable, "-c", code])


def measure(env_extra: dict[str, str]) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    figures: dict[str, dict[str, float]] = {}
    threads: dict[str, Any] = {}
    for model in MODELS:
        with tempfile.TemporaryDirectory(prefix="bench-contention-") as tmp:
            make_project(Path(tmp))
            idle = run_model(model, Path(tmp), env_extra)
        with tempfile.TemporaryDirectory(prefix="bench-contention-") as tmp:
            make_project(Path(tmp))
            competitor = start_competitor()
            try:
                time.sleep(0.5)
                contended = run_model(model, Path(tmp), env_extra)
            finally:
                competitor.kill()
                competitor.wait()
        threads = idle["threads"]
        figures[model] = {
            "idle_tokens_per_s": idle["tokens_per_s"],
            "contended_tokens_per_s": contended["tokens_per_s"],
            "ratio": round(contended["tokens_per_s"] / idle["tokens_per_s"], 3),
        }
    return figures, threads


def main() -> None:
    ensure_inputs()
    results: dict[str, Any] = {}
    for name, env_extra in POLICIES.items():
        figures, threads = measure(env_extra)
        results[name] = {"models": figures, "threads": threads}
        print(f"== {name}")
        for model, f in figures.items():
            table([(model, f)])
    out = {
        "models": results["policy"]["models"],
        "threads": results["policy"]["threads"],
        "torch_default": results["torch_default"],
        "epochs": EPOCHS,
        "competitor": "one pure-Python busy loop (one core), started and stopped by the benchmark",
        "machine": {"cpu_count": os.cpu_count(), "load_before": os.getloadavg()},
    }
    print(f"wrote {save('contention', out)}")


if __name__ == "__main__":
    main()
