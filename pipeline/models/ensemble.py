"""Ensembles of trained classifiers, fitted on validation predictions only.

Three ways to combine the members' class probabilities:

- ``mean``: their average (nothing fitted);
- ``weighted``: a weighted average, weights on the simplex minimising the validation log-loss (scipy);
- ``stacked``: a multinomial logistic regression over the members' log-probabilities (scikit-learn).

``method: auto`` picks the one with the best macro-F1 under stratified cross-validation *within* the
validation split (each fold's combiner is fitted on the other folds), so the figure that chooses it — and that
the register stage compares with other models — was not fitted on the rows it scores. The chosen combiner is
then refitted on the whole validation split. The fitted ensemble is plain JSON (weights, coefficients): no
pickle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

METHODS = ("mean", "weighted", "stacked")
EPS = 1e-9


@dataclass
class Combiner:
    """A fitted combination of ``members``' probabilities (columns in ``classes.json`` order)."""

    method: str
    members: list[str]
    weights: list[float] = field(default_factory=list)  # weighted (and mean: equal)
    coef: list[list[float]] = field(default_factory=list)  # stacked: classes x (members * classes)
    intercept: list[float] = field(default_factory=list)

    def combine(self, probs: Sequence[np.ndarray]) -> np.ndarray:
        """Class probabilities from each member's ``(documents, classes)`` probabilities, in ``members`` order."""
        if len(probs) != len(self.members):
            raise ValueError(f"expected probabilities of {len(self.members)} members, got {len(probs)}")
        if self.method == "stacked":
            from scipy.special import softmax

            z = _features(probs) @ np.asarray(self.coef).T + np.asarray(self.intercept)
            return softmax(z, axis=1)
        w = np.asarray(self.weights)
        return np.tensordot(w, np.stack(probs), axes=1)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Combiner:
        return cls(**data)


def _features(probs: Sequence[np.ndarray]) -> np.ndarray:
    return np.log(np.clip(np.hstack(probs), EPS, 1.0))


def _fit(method: str, members: list[str], probs: Sequence[np.ndarray], y: np.ndarray, seed: int) -> Combiner:
    m = len(members)
    if method == "mean":
        return Combiner("mean", members, weights=[1.0 / m] * m)
    if method == "weighted":
        from scipy.optimize import minimize
        from scipy.special import softmax

        stacked = np.stack(probs)  # members x documents x classes
        picked = stacked[:, np.arange(len(y)), y]  # members x documents: each member's probability of the truth

        def nll(theta: np.ndarray) -> float:
            return float(-np.log(np.clip(softmax(theta) @ picked, EPS, 1.0)).mean())

        theta = minimize(nll, np.zeros(m), method="L-BFGS-B").x
        return Combiner("weighted", members, weights=[round(float(w), 6) for w in softmax(theta)])
    if method == "stacked":
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(C=1.0, max_iter=2000, random_state=seed).fit(_features(probs), y)
        classes = probs[0].shape[1]
        coef, intercept = np.zeros((classes, clf.coef_.shape[1])), np.zeros(classes)
        if classes == 2 and clf.coef_.shape[0] == 1:  # scikit-learn's binary form: one row for class 1
            coef[1], intercept[1] = clf.coef_[0], clf.intercept_[0]
        else:
            coef[clf.classes_], intercept[clf.classes_] = clf.coef_, clf.intercept_
            missing = np.setdiff1d(np.arange(classes), clf.classes_)
            intercept[missing] = -1e4  # a class absent from validation is never predicted
        return Combiner("stacked", members, coef=coef.tolist(), intercept=intercept.tolist())
    raise ValueError(f"unknown ensemble method {method!r}; allowed: {', '.join(METHODS)}")


def _macro_f1(y: np.ndarray, p: np.ndarray, classes: int) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, p.argmax(axis=1), labels=list(range(classes)), average="macro", zero_division=0))


def cross_validated_f1(
    method: str, members: list[str], probs: Sequence[np.ndarray], y: np.ndarray, folds: int, seed: int
) -> float:
    """Macro-F1 of ``method`` on validation, each fold scored by a combiner fitted on the other folds."""
    from sklearn.model_selection import StratifiedKFold

    classes = probs[0].shape[1]
    if method == "mean":
        return _macro_f1(y, _fit("mean", members, probs, y, seed).combine(probs), classes)
    smallest = int(np.bincount(y).min()) if len(y) else 0
    k = min(folds, smallest)
    if k < 2:
        return float("-inf")  # too few validation documents of some class to cross-validate a fitted combiner
    out = np.zeros((len(y), classes))
    for fit_idx, score_idx in StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y):
        comb = _fit(method, members, [p[fit_idx] for p in probs], y[fit_idx], seed)
        out[score_idx] = comb.combine([p[score_idx] for p in probs])
    return _macro_f1(y, out, classes)


def fit_ensemble(
    members: list[str], probs: Sequence[Sequence[Sequence[float]]], labels: Sequence[int], method: str, folds: int, seed: int
) -> tuple[Combiner, dict[str, float]]:
    """The combiner of ``method`` (``auto``: the best cross-validated one; ties go to the simpler) fitted on the
    validation ``probs`` and ``labels``, and every tried method's cross-validated validation macro-F1."""
    arrays = [np.asarray(p, dtype=float) for p in probs]
    y = np.asarray(labels, dtype=int)
    tried = METHODS if method == "auto" else (method,)
    scores = {m: round(cross_validated_f1(m, members, arrays, y, folds, seed), 6) for m in tried}
    best = max(tried, key=lambda m: (scores[m], -tried.index(m)))
    return _fit(best, members, arrays, y, seed), scores
