"""``dvc.yaml`` lists exactly the code and the params each stage uses (DVC hashes only what is listed: a missing
entry means a change that never re-runs the stage, an extra one a re-run that changes nothing).

The stage ``python -m pipeline <stage> [item]`` runs ``pipeline/__main__.py``, ``pipeline/cli.py`` and
``pipeline.stages.<stage>.main``. Both sides are derived from the source with ``ast`` (see
``tests/deps_analysis.py``); nothing is run.

**Code** (``deps`` entries under ``pipeline/`` or ``scraping/``). The *closure* of a stage is the files that run
when it runs: the three modules above and, transitively, every module they import (function-level imports
included, ``if TYPE_CHECKING:`` ones not), the ``__init__.py`` of each package on the way, modules named in
strings (``settings.setmodule("scraping.settings")``; a package named so, like Scrapy's
``SPIDER_MODULES = ["scraping.spiders"]``, brings all its modules), the modules of classes pickled in model
files it loads (``joblib.load`` of ``model.joblib`` imports ``pipeline.models.baselines``: ``UNPICKLED``) and
data files opened next to a module (``Path(__file__).with_name("stopwords_ar.txt")``). ``scraping`` modules
are walked like ``pipeline`` ones. The dispatcher reading every stage file's docstring for ``--help`` is not
running them.

1. every file of the closure is listed (itself or a folder above it); package ``__init__.py`` files holding only a
   docstring and constants (``__version__``) are exempt: they run no code;
2. every listed file is in the closure;
3. a listed folder is allowed only when *every* file in it is in the closure: a folder is shorthand for all its
   files, so any file the stage never imports would re-run it for nothing. List the files otherwise (the
   failure names them). A "half the folder" threshold would be arbitrary and still re-run stages for unused
   modules; listing files costs a few lines. Exception: ``register`` logs the whole ``pipeline`` package with
   the model (``code_paths``), so it depends on every file of it (``SHIPS_CODE``).

**Params** (``params`` entries). The keys a stage *reads* are found by following the object ``load_params()``
returns in the stage's ``main`` (validating the whole file is not reading it):

- ``params.train.lr`` reads ``train.lr``; aliases are followed (``tp = params.train`` then ``tp.lr``;
  ``base, tp = params.base, params.train``; ``getattr(x, "lr")``; a loop over a constant tuple of names);
- a node handed to one of our functions, methods or classes is followed into them (the parameter, ``self.x =
  node`` in a constructor and then every method of that class; ``TrainParams(**tp.model_dump())`` is ``tp``
  again; properties of the config models, e.g. ``params.classifiers``);
- ``node.model_dump()`` reads the whole node, except keys a ``{k: v for k, v in d.items() if k not in CONST
  and k != "x"}`` leaves out; a node handed to anything else (a library call, an f-string, a container, a loop
  over it) is read whole: a section-level over-approximation where the keys are unclear;
- what only goes to the log (``log.info("...", params.data.path)``) is not read: the log is no output;
- ``getattr(section, name)`` with a name known only at run time reads ``section.*``: a dvc entry with
  ``${item}`` at that place (``generate.${item}``) covers it, as does the whole section;
- summaries stand in for what the walk cannot see (``deps_analysis.SUMMARIES``): ``load_params``/``parse_params``
  validate (no read); ``tracking.flat_params`` only records params with a run (MLflow, ``run.json``), which is
  not a read; ``tuning.space.override`` copies params with replaced keys (no read); ``current_values`` reads
  the keys ``tune.search_space`` names in params.yaml.

4. every key read is covered by an entry: the key, a node above it, or (under ``foreach``) an ``${item}``
   entry at a place where the key is one of the items or chosen at run time;
5. every entry overlaps a key read (no section or key the code never reads);
6. an entry naming a whole section or sub-section is allowed only when all of its keys are read (else list
   the keys: a section of 30 keys of which 3 are read would re-run the stage for the other 27).

Plus the shape of the graph: ``evaluate`` never depends on a language-model stage, the stages that read every
classifier's folder list ``models/<arch>`` for exactly ``train.architectures`` + ``finetune.architectures``
(DVC deps cannot be generated from a list), and the layering of the packages (stages never import each other,
libraries never import stages, scraping never imports pipeline).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from tests.deps_analysis import (
    CODE_ROOTS,
    REPO,
    UNPICKLED,
    files_under,
    imports_of,
    is_inert_init,
    load_yaml_params,
    module_name,
    params_reads,
    parse,
    resolve_import,
    schema,
    stage_closure,
    symbols,
)

DVC = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))
STAGES = DVC["stages"]
PARAMS = load_yaml_params()
SHIPS_CODE = {"register": "pipeline"}  # logged with the model as mlflow code_paths
LM_STAGES = ("lm_tokenizer", "train_lm")
READS_EVERY_CLASSIFIER = ("evaluate", "register", "report")


def lookup(dotted: str) -> Any:
    value: Any = PARAMS
    for part in dotted.split("."):
        value = value[part]
    return value


def interpolate(text: str, item: str | None = None) -> str:
    """``${item}`` and ``${section.key}`` of a dvc.yaml string, as DVC resolves them."""
    return re.sub(r"\$\{([^}]+)\}", lambda m: str(item if m.group(1) == "item" else lookup(m.group(1))), text)


def stage_defs() -> list[tuple[str, dict[str, Any], str, list[str]]]:
    """``(name, definition, entry module, foreach items)`` per dvc.yaml stage."""
    out = []
    for name, stage in STAGES.items():
        items = []
        if "foreach" in stage:
            items = [str(i) for i in lookup(stage["foreach"].strip("${}"))]
            stage = stage["do"]
        cmd = stage["cmd"].split()
        assert cmd[:3] == ["python", "-m", "pipeline"], f"stage {name!r}: run it as `python -m pipeline <stage>`"
        out.append((name, stage, f"pipeline.stages.{cmd[3]}", items))
    return out


DEFS = stage_defs()
IDS = [d[0] for d in DEFS]


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def code_deps(stage: dict[str, Any]) -> list[str]:
    return [d for d in stage.get("deps", []) if "${" not in d and PurePosixPath(d).parts[0] in CODE_ROOTS]


# ------------------------------------------------------------------------------------------------ code


@pytest.mark.parametrize(("name", "stage", "module", "items"), DEFS, ids=IDS)
def test_code_deps_cover_the_imported_code(name, stage, module, items):
    listed = [REPO / d for d in code_deps(stage)]
    missing = sorted(
        rel(f)
        for f in stage_closure(module)
        if not is_inert_init(f) and not any(f == d or d in f.parents for d in listed)
    )
    assert not missing, f"dvc.yaml stage {name!r} runs code it does not list in deps: {missing}"


@pytest.mark.parametrize(("name", "stage", "module", "items"), DEFS, ids=IDS)
def test_code_deps_list_only_imported_code(name, stage, module, items):
    closure = stage_closure(module)
    problems = []
    for dep in code_deps(stage):
        path = REPO / dep
        if not path.exists():
            problems.append(f"{dep}: no such file or folder")
        elif SHIPS_CODE.get(name) == dep:
            ships = any("code_paths" in f.read_text(encoding="utf-8") for f in closure if f.suffix == ".py")
            assert ships, f"{name} no longer ships {dep} as code_paths: drop SHIPS_CODE[{name!r}]"
        elif path.is_file() and path not in closure:
            problems.append(f"{dep}: never imported by the stage")
        elif path.is_dir():
            used = [f for f in files_under(path) if f in closure]
            unused = [rel(f) for f in files_under(path) if f not in closure]
            if not used:
                problems.append(f"{dep}/: nothing in it is imported by the stage")
            elif unused:
                problems.append(
                    f"{dep}/: {len(unused)} of its files are not used by the stage ({unused}); list the used ones "
                    f"instead: {[rel(f) for f in used if not is_inert_init(f)]}"
                )
    assert not problems, f"dvc.yaml stage {name!r} lists code it does not use:\n  " + "\n  ".join(problems)


def test_pickled_classes_are_known():
    """Loading ``model.joblib`` imports the module of the pickled class: ``UNPICKLED`` must name it."""
    dumped = set()
    for path in files_of("pipeline"):
        tree = parse(path)
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef):
                continue
            built = {}  # name -> the class it was built from (``model = TfidfLinear().fit(...)``)
            for node in ast.walk(func):
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                    call = node.value
                    while isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
                        call = call.func.value
                    if isinstance(call, ast.Call) and isinstance(call.func, ast.Name):
                        built[node.targets[0].id] = call.func.id
            for node in ast.walk(func):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)
                    and (node.func.value.id, node.func.attr) in {("joblib", "dump"), ("pickle", "dump")}
                ):
                    arg = node.args[0]
                    cls = built.get(arg.id) if isinstance(arg, ast.Name) else None
                    assert cls is not None, f"{rel(path)}:{node.lineno}: cannot tell which class is pickled"
                    found = resolve_import(*symbols(module_name(path)).imports.get(cls, (module_name(path), cls)))
                    dumped.add(found.module if found is not None else f"{module_name(path)}.{cls}?")
    assert dumped <= set(UNPICKLED["joblib", "load"]), f"pickled classes live in {dumped}: update UNPICKLED"


# ------------------------------------------------------------------------------------------------ params


def entry_parts(entry: str) -> tuple[str, ...]:
    return tuple(entry.split("."))


def seg_covers(entry_seg: str, read_seg: str, items: list[str]) -> bool:
    if entry_seg == "${item}":
        return read_seg == "*" or read_seg in items
    return entry_seg == read_seg


def covers(entry: tuple[str, ...], read: tuple[str, ...], items: list[str]) -> bool:
    return len(entry) <= len(read) and all(seg_covers(e, r, items) for e, r in zip(entry, read, strict=False))


def overlaps(entry: tuple[str, ...], read: tuple[str, ...], items: list[str]) -> bool:
    return all(
        e == r or r == "*" or (e == "${item}" and (r in items or not items)) for e, r in zip(entry, read, strict=False)
    )


def stage_params(name: str, stage: dict[str, Any]) -> list[str]:
    entries = stage.get("params", [])
    assert all(isinstance(e, str) for e in entries), f"stage {name!r}: only params.yaml keys are supported here"
    return entries


def read_is_covered(read: tuple[str, ...], entries: list[tuple[str, ...]], items: list[str]) -> bool:
    if any(covers(e, read, items) for e in entries):
        return True
    if "*" in read or schema().model(read) is None:
        return False
    return all(any(covers(e, leaf, items) for e in entries) for leaf in schema().leaves(read))


@pytest.mark.parametrize(("name", "stage", "module", "items"), DEFS, ids=IDS)
def test_params_cover_the_keys_read(name, stage, module, items):
    entries = [entry_parts(e) for e in stage_params(name, stage)]
    reads = params_reads(module)
    missing = sorted(
        f"{'.'.join(r)} (read at {where})" for r, where in reads.items() if not read_is_covered(r, entries, items)
    )
    assert not missing, f"dvc.yaml stage {name!r} reads params it does not list: " + ", ".join(missing)


def reads_leaf(read: tuple[str, ...], leaf: tuple[str, ...], items: list[str]) -> bool:
    """Whether ``read`` takes ``leaf`` (a key chosen at run time stands for any key, or under ``foreach`` for the
    stage's own item)."""
    return len(read) <= len(leaf) and all(
        r == k or (r == "*" and (not items or k in items)) for r, k in zip(read, leaf, strict=False)
    )


@pytest.mark.parametrize(("name", "stage", "module", "items"), DEFS, ids=IDS)
def test_params_list_only_keys_read(name, stage, module, items):
    reads = params_reads(module)
    problems = []
    for entry in stage_params(name, stage):
        parts = entry_parts(entry)
        concrete = [tuple(item if p == "${item}" else p for p in parts) for item in items] if "${" in entry else [parts]
        if not all(schema().exists(c) for c in concrete):
            problems.append(f"{entry}: not a params key")
            continue
        if not any(overlaps(parts, r, items) for r in reads):
            problems.append(f"{entry}: never read")
            continue
        unread = sorted(
            {
                ".".join(leaf)
                for c in concrete
                for leaf in schema().leaves(c)
                if not any(reads_leaf(r, leaf, items) for r in reads)
            }
        )
        if unread:
            problems.append(f"{entry}: a section of which {unread} are never read; list the keys read instead")
    assert not problems, f"dvc.yaml stage {name!r} lists params it does not read:\n  " + "\n  ".join(problems)


def test_the_params_walk_itself():
    """A few facts about the walk, so that a regression in ``deps_analysis`` shows here, not as an odd dvc.yaml."""
    train = params_reads("pipeline.stages.train")
    assert ("train", "freeze_embeddings") in train  # ClassifierModule(tp.model_dump()) -> TrainParams(**...) -> self.tp
    assert ("train", "architectures") not in train  # left out of the dumps by RESUME_FREE; the arch is the argument
    assert ("tune", "apply") in train  # through pipeline.tuning.overlay.apply_tuned
    assert not any(r[0] == "train" for r in params_reads("pipeline.stages.lm_tokenizer"))  # validation: no read
    assert ("generate", "*") in params_reads("pipeline.stages.train_lm")  # getattr(params.generate, name)


# ------------------------------------------------------------------------------------------------ graph


def expanded() -> dict[str, dict[str, list[str]]]:
    """``{stage name (name@item under foreach): {"deps": [...], "outs": [...]}}`` with paths resolved."""
    out = {}
    for name, stage, _, items in DEFS:
        for item in items or [None]:
            paths = {
                key: [interpolate(next(iter(p)) if isinstance(p, dict) else p, item) for p in stage.get(key, [])]
                for key in ("deps", "outs")
            }
            out[name if item is None else f"{name}@{item}"] = paths
    return out


def upstream(target: str) -> set[str]:
    """The stages ``dvc repro <target>`` may run: those whose outputs overlap a dependency, transitively."""
    graph = expanded()

    def overlap(a: str, b: str) -> bool:
        pa, pb = PurePosixPath(a), PurePosixPath(b)
        return pa == pb or pa in pb.parents or pb in pa.parents

    seen: set[str] = set()
    todo = [target]
    while todo:
        deps = graph[todo.pop()]["deps"]
        for other, paths in graph.items():
            if other not in seen and any(overlap(d, o) for d in deps for o in paths["outs"]):
                seen.add(other)
                todo.append(other)
    return seen


def test_evaluate_does_not_depend_on_the_language_models():
    lms = sorted(s for s in upstream("evaluate") if s.split("@")[0] in LM_STAGES)
    assert not lms, f"`dvc repro evaluate` would train the language models: {lms}"


def test_graph_reaches_the_classifiers():
    """Sanity check of :func:`upstream` itself: evaluate waits for every classifier and the data."""
    up = upstream("evaluate")
    assert {f"train@{a}" for a in lookup("train.architectures")} <= up
    assert {f"finetune@{a}" for a in lookup("finetune.architectures")} <= up
    assert {"preprocess", "scrape"} <= up
    assert "train_lm@gpt2" in upstream("generate")


@pytest.mark.parametrize("name", READS_EVERY_CLASSIFIER)
def test_classifier_folders_match_params(name):
    """DVC cannot turn a params list into deps: these stages list ``models/<arch>`` per classifier (not
    ``models``, which holds the language models too); keep the lists equal to params.yaml's classifiers."""
    models = PurePosixPath(lookup("base.models_dir"))
    listed = {
        PurePosixPath(d).name
        for d in STAGES[name].get("deps", [])
        if PurePosixPath(d).parent == models and PurePosixPath(d).name != "embeddings"
    }
    assert str(models) not in STAGES[name].get("deps", []), f"{name}: list models/<arch> per classifier"
    expected = {*lookup("train.architectures"), *lookup("finetune.architectures")}
    if name != "ensemble" and lookup("ensemble.enabled"):
        expected.add("ensemble")
    assert listed == expected, (
        f"dvc.yaml stage {name!r} lists {sorted(listed)} under {models}/ but the classifiers are {sorted(expected)}"
    )


# ------------------------------------------------------------------------------------------------ layering


def stage_files() -> list[Path]:
    return sorted(p for p in (REPO / "pipeline" / "stages").glob("*.py") if p.name != "__init__.py")


def test_stages_never_import_each_other():
    found = {
        rel(f): sorted(n for n in imports_of(f) if n.startswith("pipeline.stages."))
        for f in stage_files()
        if any(n.startswith("pipeline.stages.") for n in imports_of(f))
    }
    assert not found, f"stages import other stages (move the shared code into a library): {found}"


def test_libraries_never_import_stages():
    libraries = [f for f in sorted((REPO / "pipeline").rglob("*.py")) if "stages" not in f.relative_to(REPO).parts[:2]]
    found = {rel(f): sorted(n for n in imports_of(f) if n.startswith("pipeline.stages")) for f in libraries}
    found = {k: v for k, v in found.items() if v}
    assert not found, f"library modules import stages: {found}"


def test_scraping_never_imports_pipeline():
    found = {rel(f): sorted(n for n in imports_of(f) if n.split(".")[0] == "pipeline") for f in files_of("scraping")}
    found = {k: v for k, v in found.items() if v}
    assert not found, f"scraping modules import pipeline: {found}"


def files_of(package: str) -> list[Path]:
    return sorted(p for p in (REPO / package).rglob("*.py") if "__pycache__" not in p.parts)
