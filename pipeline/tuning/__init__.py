"""Hyperparameter tuning with Optuna: search space, trial data, the Lightning objective, MLflow runs.

The stage entry point is :mod:`pipeline.stages.tune` (study opening and trials in ``study``, the report in
``report``); the final training overlays the best params with
:mod:`pipeline.tuning.overlay`.
"""
