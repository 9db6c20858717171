"""Benchmark the DVC spine: a full `dvc repro` on the demo site, a no-op repro, and what a train change re-runs.

Runs in a fresh copy of the repository (its own git repo and MLflow store) with the committed params, so the
figures are those of `make run` after set-up. Writes ``reports/bench/repro.json``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from tests.snapshot import snapshot_repo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, save, table

BIN = Path(sys.executable).parent


def run(args: list[str], cwd: Path) -> tuple[float, str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed, proc.stdout


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-repro-") as tmp:
        proj = Path(tmp) / "proj"
        proj.mkdir()
        snapshot_repo(REPO, proj)
        full_s, full_out = run([str(BIN / "dvc"), "repro"], proj)
        stages = [line.split("'")[1] for line in full_out.splitlines() if line.startswith("Running stage")]
        metrics = (proj / "reports" / "metrics.json").read_text()
        noop_s, noop_out = run([str(BIN / "dvc"), "repro"], proj)
        params = yaml.safe_load((proj / "params.yaml").read_text(encoding="utf-8"))
        params["train"]["lr"] = params["train"]["lr"] / 2
        (proj / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False))
        rerun_s, rerun_out = run([str(BIN / "dvc"), "repro"], proj)
        rerun = [line.split("'")[1] for line in rerun_out.splitlines() if line.startswith("Running stage")]
        raw_docs = len((proj / "data" / "raw" / "docs.jsonl").read_text(encoding="utf-8").splitlines())
    figures = {
        "full_repro_s": round(full_s, 1),
        "stages_run": stages,
        "documents_scraped": raw_docs,
        "noop_repro_s": round(noop_s, 2),
        "noop_ran_nothing": "Running stage" not in noop_out,
        "train_lr_change_reruns": rerun,
        "train_lr_change_repro_s": round(rerun_s, 1),
        "metrics": yaml.safe_load(metrics),
        "cpu_count": os.cpu_count(),
    }
    path = save("repro", figures)
    print("dvc repro on the demo site (fresh copy of the repo)")
    table(
        [
            ("full repro (s)", figures["full_repro_s"]),
            ("documents scraped", raw_docs),
            ("no-op repro (s)", figures["noop_repro_s"]),
            ("no-op ran nothing", figures["noop_ran_nothing"]),
            ("train.lr change re-runs", ", ".join(rerun)),
            ("  ... in (s)", figures["train_lr_change_repro_s"]),
        ]
    )
    for arch, m in figures["metrics"].items():
        table([(f"{arch} test acc / macro-F1", f"{m['accuracy']:.3f} / {m['f1_macro']:.3f}")])
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
