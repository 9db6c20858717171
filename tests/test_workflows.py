"""The GitHub workflows: GitHub's schema (check-jsonschema's vendored copy), zizmor's audits (offline), every run
step a make target, and `make retrain` the same steps as the scheduled workflow."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent
MAKE_STEP = re.compile(r"make ([a-z][a-z-]*)")
SHA_PIN = re.compile(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}")


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _triggers(workflow: dict) -> dict:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true


def _steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def _make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][a-z-]*):", text, flags=re.M))


def test_there_are_the_two_workflows():
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "retrain.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_run_step_is_one_make_target(path):
    targets = _make_targets()
    for step in _steps(_load(path)):
        if "run" in step:
            match = MAKE_STEP.fullmatch(step["run"].strip())
            assert match, f"{path.name}: step {step.get('name')!r} runs {step['run']!r}, not one make target"
            assert match.group(1) in targets, f"{path.name}: make {match.group(1)} is not in the Makefile"
        else:
            assert SHA_PIN.fullmatch(step["uses"]), f"{path.name}: {step['uses']} is not pinned to a commit"


def test_retrain_runs_weekly_and_by_hand_and_does_what_make_retrain_does():
    workflow = _load(REPO / ".github/workflows/retrain.yml")
    on = _triggers(workflow)
    assert set(on) == {"schedule", "workflow_dispatch"}
    (cron,) = [entry["cron"] for entry in on["schedule"]]
    minute, hour, day, month, weekday = cron.split()
    assert day == month == "*" and weekday.isdigit() and minute.isdigit() and hour.isdigit()  # once a week
    steps = [MAKE_STEP.fullmatch(s["run"].strip()).group(1) for s in _steps(workflow) if "run" in s]
    in_order = [t for t in steps if t not in ("setup", "push-journal")]  # setup: the venv; push-journal: on failure
    recipe = re.search(r"^retrain:.*\n((?:\t.*\n)+)", (REPO / "Makefile").read_text(encoding="utf-8"), flags=re.M)
    assert recipe, "no retrain target in the Makefile"
    assert (
        re.findall(r"\$\(MAKE\) ([a-z-]+)", recipe.group(1))
        == in_order
        == [
            "pull",
            "rescrape",
            "repro",
            "push",
            "gate-summary",
        ]
    )
    uses = " ".join(s.get("uses", "") for s in _steps(workflow))
    assert "actions/upload-artifact@" in uses and "peter-evans/create-pull-request@" in uses
    python = [s for s in _steps(workflow) if s.get("uses", "").startswith("actions/setup-python@")]
    assert python[0]["with"]["python-version"] == "3.11" and python[0]["with"]["cache"] == "pip"


def test_ci_runs_the_readme_test_command_on_push_and_pull_request():
    workflow = _load(REPO / ".github/workflows/ci.yml")
    assert {"push", "pull_request"} <= set(_triggers(workflow))
    runs = [s["run"].strip() for s in _steps(workflow) if "run" in s]
    assert "make test" in runs
    assert "make test" in (REPO / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_checkout_keeps_no_credentials(path):
    for step in _steps(_load(path)):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False


def test_workflows_match_githubs_schema():
    proc = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_finds_nothing():
    proc = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--no-progress", str(REPO / ".github" / "workflows")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and "No findings" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path):
    """The checks are not vacuous: a misspelt key fails the schema, an unpinned action fails zizmor."""
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    stepz: []\n", encoding="utf-8")
    schema = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert schema.returncode != 0
    wf = tmp_path / ".github" / "workflows"
    wf.mkdir(parents=True)
    (wf / "ci.yml").write_text(
        "on: push\npermissions: {}\njobs:\n  x:\n    name: x\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - uses: actions/checkout@v7\n",
        encoding="utf-8",
    )
    audit = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--no-progress", str(wf)], capture_output=True, text=True, timeout=300
    )
    assert audit.returncode != 0 and "unpinned" in audit.stdout + audit.stderr
