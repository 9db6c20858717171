"""The linear floors every neural model must beat, all fitted with scikit-learn, C chosen on validation.

- ``tfidf_linear``: word 1-2-gram TF-IDF (sublinear tf) + logistic regression.
- ``tfidf_char_word``: the word TF-IDF above next to character 2-5-gram TF-IDF inside word boundaries
  (``char_wb``), + logistic regression: robust to Arabic clitics and spelling variants that split words.
- ``nbsvm``: NB-SVM (Wang & Manning 2012): binarised word 1-2-grams scaled by the naive-Bayes log-count
  ratio, a squared-hinge linear SVM per class (one-vs-rest), weights interpolated towards their mean
  (beta 0.25 as in the paper, or 1 = none: chosen on validation with C). Probabilities are the softmax of the
  margins, with one temperature fitted on validation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

C_GRID = (0.3, 1.0, 3.0, 10.0)
HELD_OUT_FILE = "val_probabilities.json"  # beside model.joblib: validation probabilities of the train-only fit
NBSVM_C_GRID = (0.03, 0.1, 0.3, 1.0)
BETA_GRID = (0.25, 1.0)


def _identity(tokens: list[str]) -> list[str]:
    return tokens


def _join(tokens: list[str]) -> str:
    return " ".join(tokens)


def _word_tfidf(ngram_max: int, min_df: int) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        analyzer="word",
        tokenizer=_identity,
        preprocessor=_identity,
        token_pattern=None,
        lowercase=False,
        ngram_range=(1, ngram_max),
        min_df=min_df,
        sublinear_tf=True,
    )


def _char_tfidf(min_df: int) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        analyzer="char_wb", preprocessor=_join, lowercase=False, ngram_range=(2, 5), min_df=min_df, sublinear_tf=True
    )


def _macro_f1(true: Sequence[int], pred: Sequence[int]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(list(true), list(pred), average="macro"))


def forget_object_ids(obj: Any, depth: int = 0) -> Any:
    """Drop what a fitted scikit-learn object remembers about this process's memory (a vectoriser's
    ``_stop_words_id``, the ``id()`` of its stop-word list, kept only to skip a repeated warning check), so the same
    fit pickles to the same bytes in every run. Walks pipelines, unions and our own wrappers; returns ``obj``."""
    if depth > 8 or obj is None or isinstance(obj, str | int | float | bool | np.ndarray):
        return obj
    if isinstance(obj, list | tuple):
        for item in obj:
            forget_object_ids(item, depth + 1)
        return obj
    attrs = getattr(obj, "__dict__", None)
    if isinstance(attrs, dict):
        attrs.pop("_stop_words_id", None)
        for value in list(attrs.values()):
            forget_object_ids(value, depth + 1)
    return obj


class _ValidatedC:
    """Shared by the floors: pick C on validation macro-F1 (ties: the smaller C), refit on train + val."""

    c: float | None
    val_f1_macro: float | None
    grid: tuple[float, ...] = C_GRID

    def _fit_one(self, c: float, docs: Sequence[list[str]], labels: Sequence[int]) -> Any:
        raise NotImplementedError

    def _choose_and_fit(
        self, train: Sequence[list[str]], y_train: Sequence[int], val: Sequence[list[str]], y_val: Sequence[int]
    ) -> Any:
        if self.c is None:
            if val:
                scores = {c: _macro_f1(y_val, self._fit_one(c, train, y_train).predict(val)) for c in self.grid}
                self.c = max(self.grid, key=lambda c: (scores[c], -c))
                self.val_f1_macro = float(scores[self.c])
            else:
                self.c = 1.0
        return self._fit_one(self.c, [*train, *val], [*y_train, *y_val])

    def held_out_proba(
        self, train: Sequence[list[str]], y_train: Sequence[int], val: Sequence[list[str]]
    ) -> list[list[float]]:
        """Probabilities on ``val`` of the chosen settings fitted on ``train`` alone: the fitted floor has seen
        ``val`` (it is refitted on train + val), so these are what anything fitted on validation predictions (the
        ensemble) must use."""
        held = self._fit_one(float(self.c or 1.0), train, y_train)
        if isinstance(held, _NbSvmFit) and self.model is not None:
            held.temperature = self.model.temperature
        return np.asarray(held.predict_proba(val)).tolist()


@dataclass
class TfidfLinear(_ValidatedC):
    """TF-IDF features + logistic regression; ``features`` is ``word`` (1..ngram_max-grams) or ``char_word``
    (those and character 2-5-grams inside word boundaries)."""

    ngram_max: int = 2
    min_df: int = 1
    features: str = "word"
    c: float | None = None
    model: Any = None
    val_f1_macro: float | None = None

    def _fit_one(self, c: float, docs: Sequence[list[str]], labels: Sequence[int]) -> Any:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline, make_union

        vec = _word_tfidf(self.ngram_max, self.min_df)
        if self.features == "char_word":
            vec = make_union(vec, _char_tfidf(self.min_df))
        elif self.features != "word":
            raise ValueError(f"TfidfLinear.features must be word or char_word, got {self.features!r}")
        return make_pipeline(vec, LogisticRegression(C=c, max_iter=3000)).fit(docs, labels)

    def fit(
        self,
        train: Sequence[list[str]],
        y_train: Sequence[int],
        val: Sequence[list[str]] = (),
        y_val: Sequence[int] = (),
    ) -> TfidfLinear:
        """Pick C on ``val`` (if given), then refit on train + val."""
        self.model = self._choose_and_fit(train, y_train, val, y_val)
        return self

    def predict(self, docs: Sequence[list[str]]) -> list[int]:
        return [int(p) for p in self.model.predict(docs)]

    def predict_proba(self, docs: Sequence[list[str]]) -> list[list[float]]:
        return self.model.predict_proba(docs).tolist()

    def parameter_count(self) -> int:
        """Learned weights: the logistic regression's coefficients and intercepts."""
        clf = self.model[-1]
        return int(clf.coef_.size + clf.intercept_.size)


@dataclass
class _NbSvmFit:
    """One fitted NB-SVM: vectoriser, per-class log-count ratios ``r`` (classes x features), weights, bias."""

    vectorizer: Any
    classes: np.ndarray
    r: np.ndarray
    w: np.ndarray
    b: np.ndarray
    temperature: float = 1.0

    def margins(self, docs: Sequence[list[str]]) -> np.ndarray:
        x = self.vectorizer.transform(docs)
        return np.column_stack([x.multiply(self.r[k]).tocsr() @ self.w[k] + self.b[k] for k in range(len(self.r))])

    def predict(self, docs: Sequence[list[str]]) -> np.ndarray:
        return self.classes[self.margins(docs).argmax(axis=1)]

    def predict_proba(self, docs: Sequence[list[str]]) -> np.ndarray:
        from scipy.special import softmax

        return softmax(self.margins(docs) / self.temperature, axis=1)


@dataclass
class NbSvm(_ValidatedC):
    """NB-SVM (Wang & Manning 2012) over binarised word 1..ngram_max-grams, one-vs-rest for several classes."""

    ngram_max: int = 2
    alpha: float = 1.0  # Laplace smoothing of the feature counts
    beta: float = 0.25  # interpolation towards the mean weight
    c: float | None = None
    model: _NbSvmFit | None = None
    val_f1_macro: float | None = None
    grid: tuple[float, ...] = NBSVM_C_GRID

    def _fit_one(self, c: float, docs: Sequence[list[str]], labels: Sequence[int]) -> _NbSvmFit:
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.svm import LinearSVC

        vec = CountVectorizer(
            analyzer="word",
            tokenizer=_identity,
            preprocessor=_identity,
            token_pattern=None,
            lowercase=False,
            ngram_range=(1, self.ngram_max),
            binary=True,
        )
        x = vec.fit_transform(docs).tocsr()
        y = np.asarray(labels)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(f"NB-SVM needs at least two classes in the training labels, got {classes.tolist()}")
        rs, ws, bs = [], [], []
        for k in classes if len(classes) > 2 else classes[1:]:
            pos = y == k
            p = self.alpha + np.asarray(x[pos].sum(axis=0)).ravel()
            q = self.alpha + np.asarray(x[~pos].sum(axis=0)).ravel()
            r = np.log((p / p.sum()) / (q / q.sum()))
            svm = LinearSVC(C=c, loss="squared_hinge", max_iter=5000, random_state=0).fit(x.multiply(r).tocsr(), pos.astype(int))
            w = svm.coef_.ravel()
            w = (1 - self.beta) * np.abs(w).mean() + self.beta * w
            rs.append(r), ws.append(w), bs.append(float(svm.intercept_[0]))
        if len(classes) == 2:  # one binary machine: the negative class's margin is minus the positive's
            rs, ws, bs = [rs[0], rs[0]], [-ws[0], ws[0]], [-bs[0], bs[0]]
        return _NbSvmFit(vec, classes, np.vstack(rs), np.vstack(ws), np.asarray(bs))

    def fit(
        self,
        train: Sequence[list[str]],
        y_train: Sequence[int],
        val: Sequence[list[str]] = (),
        y_val: Sequence[int] = (),
    ) -> NbSvm:
        """Pick C and beta on ``val`` (if given; beta 0.25 is the paper's binary choice, 1 means no interpolation,
        which several one-vs-rest machines need: each class's mean-weight offset differs), refit on train + val;
        the softmax temperature is fitted on ``val`` with the model trained on train alone (so the fit never sees
        the rows it calibrates on)."""
        if self.c is None and val:
            scores = {}
            for beta in BETA_GRID:
                self.beta = beta
                for c in self.grid:
                    scores[c, beta] = _macro_f1(y_val, self._fit_one(c, train, y_train).predict(val))
            self.c, self.beta = max(scores, key=lambda k: (scores[k], -k[0], k[1]))
            self.val_f1_macro = float(scores[self.c, self.beta])
        self.model = self._choose_and_fit(train, y_train, val, y_val)
        if val:
            self.model.temperature = _temperature(self._fit_one(self.c, train, y_train).margins(val), y_val)
        return self

    def predict(self, docs: Sequence[list[str]]) -> list[int]:
        return [int(p) for p in self.model.predict(docs)]

    def predict_proba(self, docs: Sequence[list[str]]) -> list[list[float]]:
        return self.model.predict_proba(docs).tolist()

    def parameter_count(self) -> int:
        """Learned weights: the per-class SVM weights and biases (the NB ratios are counted, not learned)."""
        return int(self.model.w.size + self.model.b.size)


def _temperature(margins: np.ndarray, labels: Sequence[int]) -> float:
    """The softmax temperature minimising the validation negative log-likelihood (Guo et al. 2017)."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    y = np.asarray(labels)
    if len(y) == 0:
        return 1.0

    def nll(log_t: float) -> float:
        return float(-log_softmax(margins / np.exp(log_t), axis=1)[np.arange(len(y)), y].mean())

    return float(np.exp(minimize_scalar(nll, bounds=(-5.0, 5.0), method="bounded").x))


FLOORS: dict[str, Any] = {
    "tfidf_linear": lambda: TfidfLinear(),
    "tfidf_char_word": lambda: TfidfLinear(features="char_word"),
    "nbsvm": NbSvm,
}


def make_floor(arch: str) -> TfidfLinear | NbSvm:
    """A fresh, unfitted floor for a ``baseline`` architecture."""
    return FLOORS[arch]()
