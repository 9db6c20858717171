"""normalise → tokenise → drop stopwords → stem, configured from ``preprocess`` params."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import PreprocessParams
from pipeline.text.normalize import Normalizer
from pipeline.text.stemming import get_stemmer, load_protected
from pipeline.text.stopwords import load_stopwords
from pipeline.text.tokenize import split_clitics, tokenize


@dataclass
class TextProcessor:
    params: PreprocessParams
    normalizer: Normalizer = field(init=False)

    def __post_init__(self) -> None:
        self.normalizer = Normalizer(**self.params.normalize.model_dump())
        if not self.params.remove_stopwords:
            self.stopwords: frozenset[str] = frozenset()
        elif self.params.stopwords_file:
            self.stopwords = load_stopwords(Path(self.params.stopwords_file), normalize=self.normalizer)
        else:
            self.stopwords = load_stopwords(normalize=self.normalizer)
        protected_file = self.params.protected_words_file
        protected = (
            load_protected(Path(protected_file), self.normalizer)
            if protected_file
            else load_protected(normalize=self.normalizer)
        )
        self.stem = get_stemmer(self.params.stemmer, protected=protected)
        self.split = self.params.clitics == "split"

    def words(self, text: str) -> list[str]:
        """Normalised tokens before stopword removal and stemming (used for near-duplicate detection)."""
        return tokenize(self.normalizer(text))

    def __call__(self, text: str) -> list[str]:
        tokens = self.words(text)
        if self.split:
            tokens = split_clitics(tokens)
        stop, stem = self.stopwords, self.stem
        return [stem(t) for t in tokens if t not in stop]
