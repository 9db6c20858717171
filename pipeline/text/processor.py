"""normalise → tokenise → drop stopwords → stem, configured from ``preprocess`` params."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.config import PreprocessParams
from pipeline.text.normalize import Normalizer
from pipeline.text.stemming import get_stemmer
from pipeline.text.stopwords import load_stopwords
from pipeline.text.tokenize import tokenize


@dataclass
class TextProcessor:
    params: PreprocessParams
    normalizer: Normalizer = field(init=False)

    def __post_init__(self) -> None:
        self.normalizer = Normalizer(**self.params.normalize.model_dump())
        self.stopwords = load_stopwords(normalize=self.normalizer) if self.params.remove_stopwords else frozenset()
        self.stem = get_stemmer(self.params.stemmer)

    def __call__(self, text: str) -> list[str]:
        tokens = tokenize(self.normalizer(text))
        return [self.stem(t) for t in tokens if t not in self.stopwords]
