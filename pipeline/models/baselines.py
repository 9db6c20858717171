"""TF-IDF + linear classifier: the floor every neural model must beat."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

C_GRID = (0.3, 1.0, 3.0, 10.0)


def _identity(tokens: list[str]) -> list[str]:
    return tokens


@dataclass
class TfidfLinear:
    """Word uni+bigram TF-IDF (sublinear tf) and logistic regression; C chosen on validation macro-F1."""

    ngram_max: int = 2
    min_df: int = 1
    c: float | None = None
    model: Any = None
    val_f1_macro: float | None = None

    def _pipeline(self, c: float) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        vec = TfidfVectorizer(
            analyzer="word",
            tokenizer=_identity,
            preprocessor=_identity,
            token_pattern=None,
            lowercase=False,
            ngram_range=(1, self.ngram_max),
            min_df=self.min_df,
            sublinear_tf=True,
        )
        return make_pipeline(vec, LogisticRegression(C=c, max_iter=3000))

    def fit(
        self,
        train: Sequence[list[str]],
        y_train: Sequence[int],
        val: Sequence[list[str]] = (),
        y_val: Sequence[int] = (),
    ) -> TfidfLinear:
        """Pick C on ``val`` (if given), then refit on train + val."""
        from sklearn.metrics import f1_score

        if self.c is None:
            if val:
                scores = {
                    c: f1_score(y_val, self._pipeline(c).fit(train, y_train).predict(val), average="macro")
                    for c in C_GRID
                }
                self.c = max(C_GRID, key=lambda c: (scores[c], -c))
                self.val_f1_macro = float(scores[self.c])
            else:
                self.c = 1.0
        self.model = self._pipeline(self.c).fit([*train, *val], [*y_train, *y_val])
        return self

    def predict(self, docs: Sequence[list[str]]) -> list[int]:
        return [int(p) for p in self.model.predict(docs)]

    def predict_proba(self, docs: Sequence[list[str]]) -> list[list[float]]:
        return self.model.predict_proba(docs).tolist()

    def parameter_count(self) -> int:
        """Learned weights: the logistic regression's coefficients and intercepts."""
        clf = self.model[-1]
        return int(clf.coef_.size + clf.intercept_.size)
