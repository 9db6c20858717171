"""Static analysis behind ``tests/test_dvc_deps.py`` (the rules are in that file's docstring).

Two questions about one DVC stage, ``python -m pipeline <stage>``, answered from the source with :mod:`ast`
(nothing is imported but :mod:`pipeline.config`, for the params schema):

- :func:`import_closure`: the files of ``pipeline/`` and ``scraping/`` that run when the stage runs;
- :func:`params_reads`: the ``params.yaml`` keys the stage reads, from ``load_params()`` in its ``main``
  through every function, method and class the params objects are handed to.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import re
import types
import typing
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

REPO = Path(__file__).resolve().parents[1]
CODE_ROOTS = ("pipeline", "scraping")
RUNNER = ("pipeline.__main__", "pipeline.cli")  # every stage runs through them
# Model files hold pickled objects: loading one imports the modules of their classes (``model.joblib``:
# ``TfidfLinear``). ``test_dvc_deps.test_pickled_classes_are_known`` keeps this in step with the dumps.
UNPICKLED = {("joblib", "load"): ("pipeline.models.baselines",)}
DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")

# ------------------------------------------------------------------------------------------------ modules


def module_file(name: str) -> Path | None:
    """The file of module or package ``name`` under the repo, or None (not ours, or no such module)."""
    if name.split(".")[0] not in CODE_ROOTS:
        return None
    path = REPO / Path(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """``ast.walk`` without the bodies of ``if TYPE_CHECKING:`` (imports there never run)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))


def _package(path: Path) -> str:
    name = module_name(path)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _absolute(path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = _package(path).split(".")
    parts = parts[: len(parts) - node.level + 1]
    return ".".join([*parts, *([node.module] if node.module else [])])


def package_modules(name: str) -> list[str]:
    """Every module of package ``name``, recursively (what Scrapy's ``SPIDER_MODULES`` loads)."""
    folder = REPO / Path(*name.split("."))
    return sorted(module_name(p) for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def imports_of(path: Path) -> set[str]:
    """Our modules that ``path`` makes run: its imports (function-level ones included, ``TYPE_CHECKING`` ones
    not), dotted module names written as strings (``settings.setmodule("scraping.settings")``,
    ``SPIDER_MODULES = ["scraping.spiders"]``: a package named so loads all its modules) and the modules of the
    classes a model file it loads holds (``UNPICKLED``)."""
    names: set[str] = set()
    for node in runtime_nodes(parse(path)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and (node.func.value.id, node.func.attr) in UNPICKLED
        ):
            names |= set(UNPICKLED[node.func.value.id, node.func.attr])
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(path, node)
            names.add(base)
            names |= {f"{base}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and DOTTED.fullmatch(node.value):
            target = module_file(node.value)
            if target is not None:
                names |= set(package_modules(node.value)) if target.name == "__init__.py" else {node.value}
    return {n for n in names if module_file(n) is not None}


def data_files_of(path: Path) -> set[Path]:
    """Files shipped next to a module and opened through ``Path(__file__).with_name("<name>")`` (a folder: all
    its files)."""
    found: set[Path] = set()
    for node in runtime_nodes(parse(path)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "with_name"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            target = path.with_name(node.args[0].value)
            found |= set(files_under(target)) if target.is_dir() else ({target} if target.is_file() else set())
    return found


def files_under(path: Path) -> list[Path]:
    """What DVC hashes for a dependency ``path`` (caches left out)."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def import_closure(*entries: str) -> set[Path]:
    """The files that run (or are read as package data) when modules ``entries`` are imported: their imports,
    transitively, each module's parent packages' ``__init__.py``, and package data files."""
    seen: set[Path] = set()
    todo = list(entries)
    while todo:
        f = module_file(todo.pop())
        if f is None or f in seen:
            continue
        seen.add(f)
        seen |= data_files_of(f)
        todo.extend(imports_of(f))
        parts = module_name(f).split(".")  # importing a module runs its packages' __init__
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
    return seen


def stage_closure(stage_module: str) -> set[Path]:
    return import_closure(stage_module, *RUNNER)


def is_inert_init(path: Path) -> bool:
    """A package ``__init__.py`` that holds only a docstring and constants (``__version__``): nothing to run."""
    if path.name != "__init__.py" or not path.is_file():
        return False
    for node in parse(path).body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Constant):
            continue
        return False
    return True


# ------------------------------------------------------------------------------------------------ params schema


def _model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds (``X`` or ``X | None``), else None (a leaf)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        models = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(models) == 1:
            return _model(models[0])
    return None


class Schema:
    """The tree of ``pipeline.config.Params``: inner nodes are pydantic models, leaves are their other fields
    (lists and mappings included: DVC compares those as a whole)."""

    def __init__(self) -> None:
        from pipeline.config import Params

        self.root = Params

    def model(self, path: tuple[str, ...]) -> type[BaseModel] | None:
        model: type[BaseModel] | None = self.root
        for part in path:
            if model is None or part not in model.model_fields:
                return None
            model = _model(model.model_fields[part].annotation)
        return model

    def exists(self, path: tuple[str, ...]) -> bool:
        return not path or (self.model(path[:-1]) is not None and path[-1] in self.model(path[:-1]).model_fields)

    def leaves(self, path: tuple[str, ...]) -> list[tuple[str, ...]]:
        model = self.model(path)
        if model is None:
            return [path]
        return [leaf for name in model.model_fields for leaf in self.leaves((*path, name))]


# ------------------------------------------------------------------------------------------------ params reads
# Values the analysis follows through a function: a params node, its model_dump(), an iterator over that
# dump, a method bound to one of them, an instance of one of our classes holding params, known strings.


@dataclasses.dataclass(frozen=True)
class Ref:
    path: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Dump:
    path: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class DumpIter:
    path: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Method:
    owner: Any  # Ref | Dump | Inst
    name: str


@dataclasses.dataclass(frozen=True)
class Inst:
    cls: ClassInfo
    key: Any


@dataclasses.dataclass(frozen=True)
class Consts:
    values: frozenset[str]


@dataclasses.dataclass(frozen=True)
class FuncInfo:
    module: str
    node: ast.FunctionDef | ast.AsyncFunctionDef
    cls: ClassInfo | None = None

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.cls.node.name + '.' if self.cls else ''}{self.node.name}"


@dataclasses.dataclass(frozen=True)
class ClassInfo:
    module: str
    node: ast.ClassDef


@dataclasses.dataclass(frozen=True)
class ModuleRef:
    name: str


NONE: frozenset = frozenset()
TRACKED = (Ref, Dump, DumpIter)
# Builtins that look at an object without reading its params values.
INSPECTING = {"isinstance", "issubclass", "id", "type", "callable", "hasattr"}
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "log"}


class Symbols:
    """A module's names: its top-level functions, classes and constant string collections, and everything it
    imports (at any level: function-level imports are the rule here)."""

    def __init__(self, name: str) -> None:
        self.name = name
        path = module_file(name)
        self.tree = parse(path) if path else ast.Module(body=[], type_ignores=[])
        self.path = path
        self.defs: dict[str, Any] = {}
        self.imports: dict[str, tuple[str, str | None]] = {}
        self.loggers = {"logging"}
        for node in self.tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                self.defs[node.name] = FuncInfo(name, node)
            elif isinstance(node, ast.ClassDef):
                self.defs[node.name] = ClassInfo(name, node)
            elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                consts = constant_strings(node.value)
                if (
                    isinstance(node.value, ast.Call)
                    and isinstance(node.value.func, ast.Attribute | ast.Name)
                    and getattr(node.value.func, "attr", getattr(node.value.func, "id", "")) == "getLogger"
                ):
                    self.loggers |= {t.id for t in targets if isinstance(t, ast.Name)}
                for t in targets:
                    if isinstance(t, ast.Name) and consts is not None:
                        self.defs[t.id] = Consts(consts)
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        self.imports[a.asname] = (a.name, None)
                    else:
                        self.imports.setdefault(a.name.split(".")[0], (a.name.split(".")[0], None))
            elif isinstance(node, ast.ImportFrom) and path is not None:
                base = _absolute(path, node)
                for a in node.names:
                    self.imports[a.asname or a.name] = (base, a.name)


def constant_strings(node: ast.expr) -> frozenset[str] | None:
    """The strings of a literal tuple/list/set (or ``frozenset``/``set`` of one) of string constants."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("set", "frozenset"):
        return constant_strings(node.args[0]) if len(node.args) == 1 else None
    if isinstance(node, ast.Tuple | ast.List | ast.Set) and all(
        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts
    ):
        return frozenset(e.value for e in node.elts)  # type: ignore[attr-defined]
    return None


@functools.cache
def symbols(name: str) -> Symbols:
    return Symbols(name)


def resolve(module: str, attr: str, depth: int = 0) -> Any:
    """What ``attr`` of our module ``module`` is: a FuncInfo, ClassInfo, ModuleRef, Consts, or None."""
    if depth > 10:
        return None
    if module_file(f"{module}.{attr}") is not None:
        return ModuleRef(f"{module}.{attr}")
    if module_file(module) is None:
        return None
    syms = symbols(module)
    if attr in syms.defs:
        return syms.defs[attr]
    if attr in syms.imports:
        return resolve_import(*syms.imports[attr], depth=depth + 1)
    return None


def resolve_import(base: str, attr: str | None, depth: int = 0) -> Any:
    if attr is None:
        return ModuleRef(base) if module_file(base) is not None else None
    return resolve(base, attr, depth)


def is_params_model(cls: ClassInfo) -> bool:
    """A section model of ``pipeline.config`` (``TrainParams``, ...)."""
    import pipeline.config

    in_config = cls.module == "pipeline.config" or cls.module.startswith("pipeline.config.")
    found = getattr(pipeline.config, cls.node.name, None) if in_config else None
    return isinstance(found, type) and issubclass(found, BaseModel)


class ParamsReads:
    """Follows the object ``load_params()`` returns through a stage, recording every params key read.

    A value is *read* when code takes a leaf field (``params.train.lr``), dumps a node (``model_dump()``: the
    whole node, less the keys a ``{k: v for k, v in d.items() if k not in CONST}`` leaves out), or hands a
    node to code the analysis cannot follow (a library call, an f-string, a container, a loop over it): the
    whole node. Handing a node to one of our functions, methods or classes is followed into them.
    ``summaries`` stands in for functions whose effect the walk cannot see (qualified name -> callable
    ``(analysis, call node) -> return values``).
    """

    def __init__(self, schema: Schema, summaries: dict[str, Any]) -> None:
        self.schema = schema
        self.summaries = summaries
        self.reads: dict[tuple[str, ...], str] = {}
        self.memo: dict[Any, frozenset] = {}
        self.inst_attrs: dict[Any, dict[str, frozenset]] = {}
        self.muted = 0  # > 0 while evaluating what only goes to the log
        self.modules: list[str] = []  # of the functions being walked, innermost last

    # -------------------------------------------------------------- recording
    def read(self, path: tuple[str, ...], node: ast.AST | None = None) -> None:
        if self.muted:
            return
        module = self.modules[-1] if self.modules else "?"
        self.reads.setdefault(path, f"{module.replace('.', '/')}.py:{getattr(node, 'lineno', '?')}")

    def sink(self, vals: Iterable[Any], node: ast.AST) -> None:
        """The values leave for code the analysis does not follow: each tracked node is read whole."""
        for v in vals:
            if isinstance(v, TRACKED):
                self.read(v.path, node)

    # -------------------------------------------------------------- entry
    def run_stage(self, stage_module: str) -> dict[tuple[str, ...], str]:
        main = symbols(stage_module).defs["main"]
        self.call_function(main, {}, None)
        return self.reads

    # -------------------------------------------------------------- functions
    def call_function(
        self, fi: FuncInfo, bindings: dict[str, frozenset], outer: dict[str, frozenset] | None
    ) -> frozenset:
        attrs = frozenset(  # an instance's attributes may grow: walk its methods again when they do
            (v, frozenset(self.inst_attrs.get(v, {}).items()))
            for vals in bindings.values()
            for v in vals
            if isinstance(v, Inst)
        )
        key = (id(fi.node), frozenset(bindings.items()), attrs, id(outer) if outer else None)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = NONE  # recursion guard
        env: dict[str, frozenset] = dict(outer or {})
        env.update(bindings)
        self.modules.append(fi.module)
        returns: set[Any] = set()
        try:
            self.block(fi.node.body, env, fi, returns)
        finally:
            self.modules.pop()
        self.memo[key] = frozenset(returns)
        return self.memo[key]

    def bind(self, fi: FuncInfo, call: ast.Call, env: dict, fn: FuncInfo, skip_self: bool) -> dict[str, frozenset]:
        """Map a call's arguments onto ``fn``'s parameters; only tracked values are kept."""
        args = fn.node.args
        positional = [a.arg for a in [*args.posonlyargs, *args.args]]
        if skip_self and positional:
            positional = positional[1:]
        bindings: dict[str, set] = {}
        for i, arg in enumerate(call.args):
            vals = self.expr(arg.value if isinstance(arg, ast.Starred) else arg, env, fi)
            if isinstance(arg, ast.Starred):
                self.sink(vals, arg)
            elif i < len(positional):
                bindings.setdefault(positional[i], set()).update(vals)
            elif args.vararg:
                self.sink(vals, arg)
        names = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
        for kw in call.keywords:
            vals = self.expr(kw.value, env, fi)
            if kw.arg is None or kw.arg not in names:
                self.sink(vals, kw.value)  # **mapping, or into **kwargs
            else:
                bindings.setdefault(kw.arg, set()).update(vals)
        return {k: frozenset(v) for k, v in bindings.items() if v}

    # -------------------------------------------------------------- classes
    def construct(self, ci: ClassInfo, call: ast.Call, env: dict, fi: FuncInfo) -> frozenset:
        init = self.method_of(ci, "__init__")
        if init is None:
            if self.is_dataclass(ci):
                fields = [
                    s.target.id for s in ci.node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
                ]
                attrs: dict[str, set] = {}
                for i, arg in enumerate(call.args):
                    vals = self.expr(arg, env, fi)
                    if i < len(fields) and not isinstance(arg, ast.Starred):
                        attrs.setdefault(fields[i], set()).update(vals)
                    else:
                        self.sink(vals, arg)
                for kw in call.keywords:
                    vals = self.expr(kw.value, env, fi)
                    if kw.arg in fields:
                        attrs.setdefault(kw.arg, set()).update(vals)
                    else:
                        self.sink(vals, kw.value)
                bindings = {k: frozenset(v) for k, v in attrs.items() if v}
                if not bindings:
                    return NONE
                inst = Inst(ci, frozenset(bindings.items()))
                self.inst_attrs.setdefault(inst, dict(bindings))
                self.all_methods(inst)
                return frozenset({inst})
            for arg in [*call.args, *(k.value for k in call.keywords)]:
                self.sink(self.expr(arg.value if isinstance(arg, ast.Starred) else arg, env, fi), arg)
            return NONE
        bindings = self.bind(fi, call, env, init, skip_self=True)
        if not bindings:
            return NONE
        inst = Inst(ci, frozenset(bindings.items()))
        if inst not in self.inst_attrs:
            self.inst_attrs[inst] = {}
            self.call_function(init, {**bindings, self_name(init): frozenset({inst})}, None)
            self.all_methods(inst)
        return frozenset({inst})

    def all_methods(self, inst: Inst) -> None:
        """Every method of an instance holding params may run: walk each with ``self`` bound (twice, so
        attributes set in one method reach the others)."""
        for _ in range(2):
            for method in self.methods(inst.cls):
                if method.node.name != "__init__":
                    self.call_function(method, {self_name(method): frozenset({inst})}, None)

    def is_dataclass(self, ci: ClassInfo) -> bool:
        return any(
            (isinstance(d, ast.Name) and d.id == "dataclass")
            or (isinstance(d, ast.Call) and isinstance(d.func, ast.Name) and d.func.id == "dataclass")
            for d in ci.node.decorator_list
        )

    def bases(self, ci: ClassInfo) -> list[ClassInfo]:
        out = []
        for b in ci.node.bases:
            target = self.static(b, ci.module, {})
            if isinstance(target, ClassInfo):
                out.append(target)
        return out

    def methods(self, ci: ClassInfo) -> list[FuncInfo]:
        found = [
            FuncInfo(ci.module, n, ci) for n in ci.node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        names = {f.node.name for f in found}
        for base in self.bases(ci):
            found += [m for m in self.methods(base) if m.node.name not in names]
        return found

    def method_of(self, ci: ClassInfo, name: str) -> FuncInfo | None:
        return next((m for m in self.methods(ci) if m.node.name == name), None)

    # -------------------------------------------------------------- static names
    def static(self, node: ast.expr, module: str, env: dict) -> Any:
        """What a name or dotted name means statically: FuncInfo, ClassInfo, ModuleRef, Consts or None."""
        if isinstance(node, ast.Name):
            for v in env.get(node.id, ()):
                if isinstance(v, FuncInfo | Consts):
                    return v
            if node.id in env:
                return None
            syms = symbols(module)
            if node.id in syms.defs:
                return syms.defs[node.id]
            if node.id in syms.imports:
                return resolve_import(*syms.imports[node.id])
            return None
        if isinstance(node, ast.Attribute):
            owner = self.static(node.value, module, env)
            if isinstance(owner, ModuleRef):
                return resolve(owner.name, node.attr)
            if isinstance(owner, ClassInfo):
                return self.method_of(owner, node.attr)
        return None

    # -------------------------------------------------------------- statements
    def block(self, body: list[ast.stmt], env: dict, fi: FuncInfo, returns: set) -> None:
        for stmt in body:
            self.stmt(stmt, env, fi, returns)

    def assign(self, target: ast.expr, value: ast.expr | None, vals: frozenset, env: dict, fi: FuncInfo) -> None:
        if isinstance(target, ast.Name):
            env[target.id] = env.get(target.id, NONE) | vals
        elif isinstance(target, ast.Tuple | ast.List):
            if isinstance(value, ast.Tuple | ast.List) and len(value.elts) == len(target.elts):
                for t, v in zip(target.elts, value.elts, strict=True):
                    self.assign(t, v, self.expr(v, env, fi), env, fi)
            else:
                for t in target.elts:  # unpacking a tuple we did not follow: its parts are untracked
                    self.assign(t, None, NONE, env, fi)
                self.sink(vals, target)
        elif isinstance(target, ast.Attribute):
            owners = self.expr(target.value, env, fi)
            insts = [o for o in owners if isinstance(o, Inst)]
            for inst in insts:
                attrs = self.inst_attrs.setdefault(inst, {})
                attrs[target.attr] = attrs.get(target.attr, NONE) | vals
            if not insts:
                self.sink(vals, target)
        else:
            if isinstance(target, ast.Subscript):
                self.expr(target.value, env, fi)
                self.expr(target.slice, env, fi)
            self.sink(vals, target)

    def stmt(self, stmt: ast.stmt, env: dict, fi: FuncInfo, returns: set) -> None:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            inner = FuncInfo(fi.module, stmt, fi.cls)
            env[stmt.name] = frozenset({inner})
            self.call_function(inner, {}, env)  # a local function runs with the enclosing names
        elif isinstance(stmt, ast.ClassDef):
            return
        elif isinstance(stmt, ast.Assign):
            pairwise = isinstance(stmt.value, ast.Tuple | ast.List) and all(
                isinstance(t, ast.Tuple | ast.List) and len(t.elts) == len(stmt.value.elts) for t in stmt.targets
            )
            vals = NONE if pairwise else self.expr(stmt.value, env, fi)
            for t in stmt.targets:
                self.assign(t, stmt.value, vals, env, fi)
        elif isinstance(stmt, ast.AnnAssign):
            if stmt.value is not None:
                self.assign(stmt.target, stmt.value, self.expr(stmt.value, env, fi), env, fi)
        elif isinstance(stmt, ast.AugAssign):
            self.sink(self.expr(stmt.value, env, fi), stmt)
        elif isinstance(stmt, ast.Return):
            if stmt.value is not None:
                returns.update(self.expr(stmt.value, env, fi))
        elif isinstance(stmt, ast.Expr):
            self.expr(stmt.value, env, fi)
        elif isinstance(stmt, ast.For | ast.AsyncFor):
            vals = self.expr(stmt.iter, env, fi)
            consts = frozenset(s for v in vals if isinstance(v, Consts) for s in v.values)
            self.sink(vals, stmt.iter)
            self.assign(stmt.target, None, frozenset({Consts(consts)}) if consts else NONE, env, fi)
            self.block(stmt.body, env, fi, returns)
            self.block(stmt.orelse, env, fi, returns)
        elif isinstance(stmt, ast.While | ast.If):
            self.test(stmt.test, env, fi)
            self.block(stmt.body, env, fi, returns)
            self.block(stmt.orelse, env, fi, returns)
        elif isinstance(stmt, ast.With | ast.AsyncWith):
            for item in stmt.items:
                vals = self.expr(item.context_expr, env, fi)
                if item.optional_vars is not None:
                    self.assign(item.optional_vars, None, vals, env, fi)
            self.block(stmt.body, env, fi, returns)
        elif isinstance(stmt, ast.Try | ast.TryStar):
            self.block(stmt.body, env, fi, returns)
            for h in stmt.handlers:
                self.block(h.body, env, fi, returns)
            self.block(stmt.orelse, env, fi, returns)
            self.block(stmt.finalbody, env, fi, returns)
        elif isinstance(stmt, ast.Match):
            self.sink(self.expr(stmt.subject, env, fi), stmt.subject)
            for case in stmt.cases:
                self.block(case.body, env, fi, returns)
        else:  # raise, assert, delete, ...: whatever they touch is consumed
            for child in ast.iter_child_nodes(stmt):
                if isinstance(child, ast.expr):
                    self.sink(self.expr(child, env, fi), child)

    def test(self, node: ast.expr, env: dict, fi: FuncInfo) -> None:
        """A condition: the truth of a params node (always true) reads nothing."""
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            self.test(node.operand, env, fi)
        elif isinstance(node, ast.BoolOp):
            for v in node.values:
                self.test(v, env, fi)
        else:
            vals = self.expr(node, env, fi)
            self.sink((v for v in vals if not isinstance(v, Ref)), node)

    # -------------------------------------------------------------- expressions
    def expr(self, node: ast.expr | None, env: dict, fi: FuncInfo) -> frozenset:
        if node is None:
            return NONE
        if isinstance(node, ast.Name):
            if node.id not in env and isinstance(const := symbols(fi.module).defs.get(node.id), Consts):
                return frozenset({const})
            return frozenset(v for v in env.get(node.id, NONE) if not isinstance(v, FuncInfo))
        if isinstance(node, ast.Attribute):
            return self.attribute(self.expr(node.value, env, fi), node.attr, node)
        if isinstance(node, ast.Call):
            return self.call(node, env, fi)
        if isinstance(node, ast.Subscript):
            vals = self.expr(node.value, env, fi)
            key = node.slice
            const = key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else None
            self.sink(self.expr(key, env, fi), key)
            out: set[Any] = set()
            for v in vals:
                if isinstance(v, Dump):
                    out |= self.child(v.path, const if const is not None else "*", node, dump=True)
                elif isinstance(v, TRACKED):
                    self.read(v.path, node)
            return frozenset(out)
        if isinstance(node, ast.IfExp):
            self.test(node.test, env, fi)
            return self.expr(node.body, env, fi) | self.expr(node.orelse, env, fi)
        if isinstance(node, ast.BoolOp):
            out = set()
            for v in node.values:
                out |= self.expr(v, env, fi)
            return frozenset(out)
        if isinstance(node, ast.NamedExpr):
            vals = self.expr(node.value, env, fi)
            self.assign(node.target, node.value, vals, env, fi)
            return vals
        if isinstance(node, ast.Compare):
            plain = all(isinstance(op, ast.Is | ast.IsNot) for op in node.ops)
            for operand in [node.left, *node.comparators]:
                vals = self.expr(operand, env, fi)
                if not plain:
                    self.sink(vals, operand)
            return NONE
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            self.test(node.operand, env, fi)
            return NONE
        if isinstance(node, ast.Lambda):
            inner_env = dict(env)
            self.sink(self.expr(node.body, inner_env, fi), node.body)
            return NONE
        if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            return self.comprehension(node, env, fi)
        if isinstance(node, ast.Constant):
            return NONE
        for child in ast.iter_child_nodes(node):  # anything else consumes its parts
            if isinstance(child, ast.expr):
                self.sink(self.expr(child, env, fi), child)
        return NONE

    def child(self, path: tuple[str, ...], name: str, node: ast.AST, dump: bool = False) -> frozenset:
        """Take field ``name`` of node ``path``: a leaf is read here, an inner node is followed."""
        child = (*path, name)
        if name == "*" or self.schema.model(path) is None:
            self.read(child if name == "*" else path, node)
            return NONE
        if not self.schema.exists(child):
            self.read(path, node)
            return NONE
        if self.schema.model(child) is None:
            self.read(child, node)
            return NONE
        return frozenset({Dump(child) if dump else Ref(child)})

    def attribute(self, vals: frozenset, attr: str, node: ast.AST) -> frozenset:
        out: set[Any] = set()
        for v in vals:
            if isinstance(v, Ref):
                model = self.schema.model(v.path)
                if model is None:
                    self.read(v.path, node)
                elif attr in model.model_fields:
                    out |= self.child(v.path, attr, node)
                elif attr in ("model_dump", "model_copy", "model_dump_json"):
                    out.add(Method(v, attr))
                elif (method := self.config_method(model, attr)) is not None:
                    if any(
                        isinstance(d, ast.Name) and d.id in ("property", "cached_property")
                        for d in method.node.decorator_list
                    ):
                        out |= self.call_function(method, {self_name(method): frozenset({v})}, None)
                    else:
                        out.add(Method(v, attr))
                else:
                    self.read(v.path, node)
            elif isinstance(v, Dump):
                if attr in ("items", "keys", "values", "get", "copy"):
                    out.add(Method(v, attr))
                else:
                    self.read(v.path, node)
            elif isinstance(v, DumpIter):
                self.read(v.path, node)
            elif isinstance(v, Inst):
                attrs = self.inst_attrs.get(v, {})
                if attr in attrs:
                    out |= attrs[attr]
                elif self.method_of(v.cls, attr) is not None:
                    out.add(Method(v, attr))
        return frozenset(out)

    def config_method(self, model: type[BaseModel], attr: str) -> FuncInfo | None:
        for cls in model.__mro__:
            if not cls.__module__.startswith("pipeline.config"):
                continue
            ci = symbols(cls.__module__).defs.get(cls.__name__)
            if isinstance(ci, ClassInfo):
                for n in ci.node.body:
                    if isinstance(n, ast.FunctionDef) and n.name == attr:
                        return FuncInfo(cls.__module__, n, ci)
        return None

    def comprehension(self, node: ast.expr, env: dict, fi: FuncInfo) -> frozenset:
        inner = dict(env)
        for gen in node.generators:  # type: ignore[attr-defined]
            vals = self.expr(gen.iter, inner, fi)
            dumps = [v for v in vals if isinstance(v, DumpIter | Dump)]
            consts = frozenset(s for v in vals if isinstance(v, Consts) for s in v.values)
            left_out = self.excluded(gen, inner, fi) if dumps else None
            for d in dumps:
                if left_out is None:
                    self.read(d.path, gen.iter)
                else:
                    for name in self.schema.model(d.path).model_fields if self.schema.model(d.path) else []:
                        if name not in left_out:
                            self.child(d.path, name, gen.iter, dump=True)
                            if self.schema.model((*d.path, name)) is not None:
                                self.read((*d.path, name), gen.iter)
            self.sink((v for v in vals if not isinstance(v, DumpIter | Dump)), gen.iter)
            self.assign(gen.target, None, frozenset({Consts(consts)}) if consts else NONE, inner, fi)
            for cond in gen.ifs:
                self.test(cond, inner, fi)
        parts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]  # type: ignore[attr-defined]
        for p in parts:
            self.sink(self.expr(p, inner, fi), p)
        return NONE

    def excluded(self, gen: ast.comprehension, env: dict, fi: FuncInfo) -> frozenset[str] | None:
        """Keys a ``for k, v in d.items() if k not in CONST and k != "x"`` filter leaves out, or None when the
        filters are anything else (the whole dump is then read)."""
        target = gen.target.elts[0] if isinstance(gen.target, ast.Tuple) else gen.target
        if not isinstance(target, ast.Name) or not gen.ifs:
            return None
        conds: list[ast.expr] = []
        for cond in gen.ifs:
            conds += cond.values if isinstance(cond, ast.BoolOp) and isinstance(cond.op, ast.And) else [cond]
        out: set[str] = set()
        for c in conds:
            if not (
                isinstance(c, ast.Compare)
                and len(c.ops) == 1
                and isinstance(c.left, ast.Name)
                and c.left.id == target.id
            ):
                return None
            right = c.comparators[0]
            if isinstance(c.ops[0], ast.NotEq) and isinstance(right, ast.Constant) and isinstance(right.value, str):
                out.add(right.value)
            elif isinstance(c.ops[0], ast.NotIn):
                known = constant_strings(right)
                if known is None:
                    static = self.static(right, fi.module, env)
                    known = static.values if isinstance(static, Consts) else None
                if known is None:
                    return None
                out |= known
            else:
                return None
        return frozenset(out)

    def call(self, node: ast.Call, env: dict, fi: FuncInfo) -> frozenset:
        func = node.func
        if isinstance(func, ast.Name) and func.id == "getattr" and len(node.args) >= 2 and func.id not in env:
            owners = self.expr(node.args[0], env, fi)
            name = node.args[1]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                names: frozenset[str] | None = frozenset({name.value})
            else:
                known = [v for v in self.expr(name, env, fi) if isinstance(v, Consts)]
                names = frozenset(s for v in known for s in v.values) if known else None
            out: set[Any] = set()
            for owner in owners:
                if isinstance(owner, Ref) and names is None:
                    out |= self.child(owner.path, "*", node)
                elif isinstance(owner, Ref | Inst):
                    for n in names or ():
                        out |= self.attribute(frozenset({owner}), n, node)
                else:
                    self.sink({owner}, node)
            for extra in node.args[2:]:
                self.sink(self.expr(extra, env, fi), extra)
            return frozenset(out)
        if (
            isinstance(func, ast.Attribute)
            and func.attr in LOG_METHODS
            and isinstance(func.value, ast.Name)
            and func.value.id in symbols(fi.module).loggers
            and func.value.id not in env
        ):  # a log line is no output: what it shows is not read
            self.muted += 1
            try:
                for arg in [*node.args, *(k.value for k in node.keywords)]:
                    self.expr(arg, env, fi)
            finally:
                self.muted -= 1
            return NONE
        if isinstance(func, ast.Name) and func.id in INSPECTING and func.id not in env:
            for arg in node.args:
                self.expr(arg, env, fi)
            return NONE

        static = self.static(func, fi.module, env)
        if isinstance(static, FuncInfo):
            summary = self.summaries.get(static.qualname)
            if summary is not None:
                return summary(self, node, env, fi)
            bindings = self.bind(fi, node, env, static, skip_self=is_classmethod(static))
            if not bindings and static.node not in [f.node for f in self.local_functions(env)]:
                return NONE  # no params handed over: nothing to read there
            outer = env if any(static.node is f.node for f in self.local_functions(env)) else None
            return self.call_function(static, bindings, outer)
        if isinstance(static, ClassInfo):
            if is_params_model(static):  # TrainParams(**train_params): the same node again
                out = set()
                for kw in node.keywords:
                    vals = self.expr(kw.value, env, fi)
                    if kw.arg is None:
                        out |= {Ref(v.path) for v in vals if isinstance(v, Dump)}
                        self.sink((v for v in vals if not isinstance(v, Dump)), kw.value)
                    else:
                        self.sink(vals, kw.value)
                for arg in node.args:
                    self.sink(self.expr(arg, env, fi), arg)
                return frozenset(out)
            return self.construct(static, node, env, fi)

        callees = self.expr(func, env, fi) if isinstance(func, ast.Attribute | ast.Name) else NONE
        if not callees and not isinstance(func, ast.Attribute | ast.Name):
            self.sink(self.expr(func, env, fi), func)
        out = set()
        handled = False
        for c in callees:
            if not isinstance(c, Method):
                continue
            handled = True
            owner = c.owner
            if isinstance(owner, Ref) and c.name in ("model_dump", "model_dump_json"):
                for kw in node.keywords:
                    self.sink(self.expr(kw.value, env, fi), kw.value)
                if c.name == "model_dump" and not node.keywords:
                    out.add(Dump(owner.path))
                else:
                    self.read(owner.path, node)
            elif isinstance(owner, Ref) and c.name == "model_copy":
                for kw in node.keywords:  # update={"base": ...}: values move into the copy, unread
                    if isinstance(kw.value, ast.Dict):
                        for v in kw.value.values:
                            self.expr(v, env, fi)
                    else:
                        self.sink(self.expr(kw.value, env, fi), kw.value)
                out.add(owner)
            elif isinstance(owner, Ref):
                method = self.config_method(self.schema.model(owner.path), c.name)
                bindings = self.bind(fi, node, env, method, skip_self=True)
                out |= self.call_function(method, {**bindings, self_name(method): frozenset({owner})}, None)
            elif isinstance(owner, Dump):
                if c.name in ("items", "keys", "values"):
                    out.add(DumpIter(owner.path))
                elif c.name == "get" and node.args:
                    key = node.args[0]
                    const = key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else "*"
                    out |= self.child(owner.path, const, node, dump=True)
                else:
                    out.add(owner)
            elif isinstance(owner, Inst):
                method = self.method_of(owner.cls, c.name)
                bindings = self.bind(fi, node, env, method, skip_self=True)
                out |= self.call_function(method, {**bindings, self_name(method): frozenset({owner})}, None)
        if handled:
            return frozenset(out)
        # A call we do not follow (a library, a builtin, an unknown object's method): its arguments are read.
        for arg in node.args:
            self.sink(self.expr(arg.value if isinstance(arg, ast.Starred) else arg, env, fi), arg)
        for kw in node.keywords:
            self.sink(self.expr(kw.value, env, fi), kw.value)
        return NONE

    def local_functions(self, env: dict) -> list[FuncInfo]:
        return [v for vals in env.values() for v in vals if isinstance(v, FuncInfo)]


def is_classmethod(fn: FuncInfo) -> bool:
    return fn.cls is not None and any(isinstance(d, ast.Name) and d.id == "classmethod" for d in fn.node.decorator_list)


def self_name(method: FuncInfo) -> str:
    args = [*method.node.args.posonlyargs, *method.node.args.args]
    return args[0].arg if args else "self"


# ------------------------------------------------------------------------------------------------ summaries


def _returns_params(analysis: ParamsReads, call: ast.Call, env: dict, fi: FuncInfo) -> frozenset:
    """``load_params``/``parse_params`` validate the whole file (not a read) and return the root;
    ``tuning.space.override`` copies it with dotted keys replaced (no read either)."""
    for arg in [*call.args, *(k.value for k in call.keywords)]:
        analysis.expr(arg, env, fi)
    return frozenset({Ref(())})


def _records_only(analysis: ParamsReads, call: ast.Call, env: dict, fi: FuncInfo) -> frozenset:
    """``tracking.flat_params``: the params a run is recorded with (MLflow, run.json): a record, not a read."""
    for arg in [*call.args, *(k.value for k in call.keywords)]:
        analysis.expr(arg, env, fi)
    return NONE


def _searched_keys(analysis: ParamsReads, call: ast.Call, env: dict, fi: FuncInfo) -> frozenset:
    """``tuning.space.current_values``: the values of the keys ``tune.search_space`` names (in params.yaml)."""
    for arg in [*call.args, *(k.value for k in call.keywords)]:
        analysis.expr(arg, env, fi)
    analysis.read(("tune", "search_space"), call)
    for key in load_yaml_params().get("tune", {}).get("search_space", {}):
        analysis.read(tuple(key.split(".")), call)
    return NONE


SUMMARIES = {
    "pipeline.config.params.load_params": _returns_params,
    "pipeline.config.params.parse_params": _returns_params,
    "pipeline.tuning.space.override": _returns_params,
    "pipeline.tracking.flat_params": _records_only,
    "pipeline.tuning.space.current_values": _searched_keys,
}


@functools.cache
def load_yaml_params() -> dict[str, Any]:
    return yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8")) or {}


@functools.cache
def schema() -> Schema:
    return Schema()


def params_reads(stage_module: str) -> dict[tuple[str, ...], str]:
    """``{key path: "file:line" of the first read}`` for the stage whose ``main`` is in ``stage_module``; a
    path may end above the leaves (the whole node is read) or hold ``*`` (a key chosen at run time)."""
    return dict(ParamsReads(schema(), SUMMARIES).run_stage(stage_module))
