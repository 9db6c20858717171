"""Benchmark the DVC spine: a full `dvc repro` on the demo site (with its per-stage split), a no-op repro, and
what a train change re-runs.

Runs in a fresh copy of the repository (its own git repo and MLflow store, no DVC cache) with the committed
params and ``dvc.lock``, so the figures are those of `make run` on a clean clone after set-up: every stage runs,
and ``git_status_after_repro`` lists what the run left modified (empty when every output is byte-reproducible;
``lock_outs_changed`` names the stage outputs whose hash differs from the committed lock). Then ``dvc repro -f``
in the same copy: every stage, including those a clean clone skips because their committed outputs already
match their inputs (``forced_repro_s``, ``forced_stage_s``). Writes ``reports/bench/repro.json``.
"""

from __future__ import annotations

import os
import shutil
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


def run(args: list[str], cwd: Path) -> tuple[float, str, dict[str, float]]:
    """Run ``args``; its wall time, stdout and the seconds from each ``Running stage`` line to the next (or to
    the end): the stage's command plus DVC's hashing and lock writing after it."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    env["PYTHONUNBUFFERED"] = "1"  # lines arrive when printed, so their timestamps split the stages
    env.pop("MLFLOW_TRACKING_URI", None)
    start = time.perf_counter()
    lines, marks = [], []  # (stage, time its line arrived)
    with subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Running stage"):
                marks.append((line.split("'")[1], time.perf_counter()))
    end = time.perf_counter()
    out = "".join(lines)
    if proc.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{out[-6000:]}")
    ends = [t for _, t in marks[1:]] + [end] if marks else []  # a no-op repro runs no stage
    split = {stage: round(stop - begin, 1) for (stage, begin), stop in zip(marks, ends, strict=True)}
    return end - start, out, split


def git(args: list[str], cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def changed_outs(committed: dict, lock: Path) -> dict[str, list[str]]:
    """Per stage, the outputs whose hash in ``lock`` differs from ``committed`` (or that one of them lacks)."""

    def outs(data: dict) -> dict[str, dict[str, str]]:
        return {
            stage: {o["path"]: o.get("md5", "") for o in entry.get("outs", [])}
            for stage, entry in (data or {}).get("stages", {}).items()
        }

    old, new = outs(committed), outs(yaml.safe_load(lock.read_text(encoding="utf-8")))
    changed = {}
    for stage in sorted(set(old) | set(new)):
        a, b = old.get(stage, {}), new.get(stage, {})
        paths = sorted(p for p in set(a) | set(b) if a.get(p) != b.get(p))
        if paths:
            changed[stage] = paths
    return changed


def main() -> None:
    load_before = os.getloadavg()  # the split is clean only on an idle machine
    with tempfile.TemporaryDirectory(prefix="bench-repro-") as tmp:
        proj = Path(tmp) / "proj"
        proj.mkdir()
        snapshot_repo(REPO, proj, drop=())
        full_s, full_out, split = run([str(BIN / "dvc"), "repro"], proj)
        status = git(["status", "--porcelain"], proj).splitlines()
        lock_changed = changed_outs(yaml.safe_load(git(["show", "HEAD:dvc.lock"], proj)), proj / "dvc.lock")
        print(f"full repro {full_s:.1f} s; per stage (s): {split}", flush=True)
        stages = [line.split("'")[1] for line in full_out.splitlines() if line.startswith("Running stage")]
        metrics = (proj / "reports" / "metrics.json").read_text()
        noop_s, noop_out, _ = run([str(BIN / "dvc"), "repro"], proj)
        params = yaml.safe_load((proj / "params.yaml").read_text(encoding="utf-8"))
        params["train"]["lr"] = params["train"]["lr"] / 2
        (proj / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False))
        rerun_s, rerun_out, _ = run([str(BIN / "dvc"), "repro"], proj)
        rerun = [line.split("'")[1] for line in rerun_out.splitlines() if line.startswith("Running stage")]
        # every stage, whatever DVC thinks is up to date (a clean clone skips the stages whose committed outputs
        # match their inputs, generate for one): the cost of the whole pipeline, with the committed params
        subprocess.run(["git", "checkout", "-q", "params.yaml"], cwd=proj, check=True)
        for state in ("mlflow.db", "optuna.db", "mlruns", ".runs"):  # fresh stores: tuning starts its study anew
            path = proj / state
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        forced_s, forced_out, forced_split = run([str(BIN / "dvc"), "repro", "-f"], proj)
        forced = [line.split("'")[1] for line in forced_out.splitlines() if line.startswith("Running stage")]
        raw_docs = len((proj / "data" / "raw" / "docs.jsonl").read_text(encoding="utf-8").splitlines())
    figures = {
        "full_repro_s": round(full_s, 1),
        "stages_run": stages,
        "stage_s": split,
        "console_lines": len(full_out.splitlines()),
        "load_before": [round(x, 2) for x in load_before],
        "documents_scraped": raw_docs,
        "git_status_after_repro": status,
        "lock_outs_changed": lock_changed,
        "noop_repro_s": round(noop_s, 2),
        "noop_ran_nothing": "Running stage" not in noop_out,
        "train_lr_change_reruns": rerun,
        "train_lr_change_repro_s": round(rerun_s, 1),
        "forced_repro_s": round(forced_s, 1),
        "forced_stages_run": forced,
        "forced_stage_s": forced_split,
        "metrics": yaml.safe_load(metrics),
        "cpu_count": os.cpu_count(),
    }
    path = save("repro", figures)
    print("dvc repro on the demo site (fresh copy of the repo)")
    table(
        [
            ("full repro (s)", figures["full_repro_s"]),
            ("documents scraped", raw_docs),
            ("git status after repro", " ".join(status) or "clean"),
            ("outputs whose hash changed", sum(map(len, lock_changed.values()))),
            ("no-op repro (s)", figures["noop_repro_s"]),
            ("no-op ran nothing", figures["noop_ran_nothing"]),
            ("train.lr change re-runs", ", ".join(rerun)),
            ("  ... in (s)", figures["train_lr_change_repro_s"]),
            ("forced repro, every stage (s)", figures["forced_repro_s"]),
            ("  stages", len(forced)),
        ]
    )
    print("per stage of the forced repro (s), slowest first")
    table(sorted(forced_split.items(), key=lambda kv: -kv[1]))
    for arch, m in figures["metrics"].items():
        table([(f"{arch} test acc / macro-F1", f"{m['accuracy']:.3f} / {m['f1_macro']:.3f}")])
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
