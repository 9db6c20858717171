"""Search-space sampling and dotted-key overrides of :class:`~pipeline.config.Params`."""

from __future__ import annotations

from typing import Any

from pipeline.config import Params, SearchDim, parse_params


def suggest(trial: Any, space: dict[str, SearchDim]) -> dict[str, Any]:
    """One value per dimension from an Optuna ``trial``; the Optuna param names are the dotted keys."""
    out: dict[str, Any] = {}
    for key, dim in space.items():
        if dim.type == "categorical":
            out[key] = trial.suggest_categorical(key, list(dim.choices or []))
        elif dim.type == "int":
            out[key] = trial.suggest_int(
                key, int(dim.low or 0), int(dim.high or 0), step=int(dim.step or 1), log=dim.log
            )
        elif dim.type == "log_float":
            out[key] = trial.suggest_float(key, float(dim.low or 0), float(dim.high or 0), log=True)
        else:
            out[key] = trial.suggest_float(key, float(dim.low or 0), float(dim.high or 0), step=dim.step, log=dim.log)
    return out


def override(params: Params, overrides: dict[str, Any], source: str = "tuned params") -> Params:
    """``params`` with dotted keys replaced (``{"train.lr": 0.01, "preprocess.normalize.unify_ya": False}``),
    validated again as a whole: an invalid combination raises :class:`~pipeline.config.ParamsError` naming
    the key."""
    data = params.model_dump()
    for dotted, value in overrides.items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return parse_params(data, source)


def preprocess_keys(overrides: dict[str, Any]) -> dict[str, Any]:
    """The ``preprocess.*`` part of ``overrides``."""
    return {k: v for k, v in overrides.items() if k.startswith("preprocess.")}


def current_values(params: Params, space: dict[str, SearchDim]) -> dict[str, Any] | None:
    """The values ``params`` has for the searched keys, or ``None`` if one of them lies outside the space."""
    data = params.model_dump()
    out: dict[str, Any] = {}
    for key, dim in space.items():
        node: Any = data
        for part in key.split("."):
            node = node[part]
        if dim.type == "categorical":
            if node not in (dim.choices or []):
                return None
        elif not (float(dim.low or 0) <= float(node) <= float(dim.high or 0)):
            return None
        out[key] = node
    return out
