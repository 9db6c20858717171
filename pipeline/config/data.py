"""The ``data`` section (where documents come from) and ``preprocess`` with its sub-sections (normalisation,
score bins, splits)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from pipeline.config.base import Section

TokenPolicy = Literal["keep", "remove", "token"]


class NormalizeParams(Section):
    strip_diacritics: bool = Field(True, description="Remove tashkeel (harakat, tanween, shadda, sukun).")
    strip_tatweel: bool = Field(True, description="Remove the tatweel (kashida) character.")
    unify_alef: bool = Field(True, description="Map أ إ آ ٱ to ا.")
    unify_hamza: bool = Field(False, description="Map ؤ to و and ئ to ي (hamza on carriers to the bare letter).")
    unify_ya: bool = Field(True, description="Map alef maqsura ى to ي.")
    unify_ta_marbuta: bool = Field(True, description="Map ة to ه.")
    collapse_elongation: bool = Field(True, description="Reduce an Arabic letter repeated 3+ times to one.")
    arabic_digits: bool = Field(True, description="Map Arabic-Indic and Persian digits to 0-9.")
    urls: TokenPolicy = Field("token", description="URLs: keep as text, remove, or replace by the token `url`.")
    emails: TokenPolicy = Field("token", description="E-mail addresses: keep, remove, or replace by `email`.")
    mentions: TokenPolicy = Field("token", description="@mentions: keep, remove, or replace by `mention`.")
    hashtags: Literal["keep", "remove", "word"] = Field(
        "word", description="#hashtags: keep as text, remove, or keep the word without `#` (underscores → spaces)."
    )
    emoji: TokenPolicy = Field(
        "keep", description="Emoji: keep each as a token, remove, or replace each by the token `emoji`."
    )
    latin: Literal["keep", "remove"] = Field("keep", description="Latin-script words: keep (lowercased) or remove.")


class BinsParams(Section):
    method: Literal["fixed", "quantile", "uniform"] = Field(
        "fixed",
        description="fixed: `edges`; quantile: `n_classes` equal-frequency bins over the corpus scores; "
        "uniform: `n_classes` equal-width bins over 0–10.",
    )
    edges: list[float] = Field(
        default_factory=lambda: [4.0, 7.0],
        description="fixed: increasing thresholds in (0, 10); class i holds edges[i-1] <= score < edges[i].",
    )
    n_classes: int = Field(3, ge=2, le=10, description="quantile/uniform: number of classes.")
    labels: list[str] = Field(
        default_factory=lambda: ["negative", "neutral", "positive"],
        description="One label per class, lowest scores first; empty = class_0, class_1, …",
    )

    @property
    def size(self) -> int:
        return len(self.edges) + 1 if self.method == "fixed" else self.n_classes

    @model_validator(mode="after")
    def _consistent(self) -> BinsParams:
        if self.labels and len(self.labels) != self.size:
            raise ValueError(
                f"preprocess.bins.labels needs {self.size} labels for method {self.method!r} "
                f"({'edges' if self.method == 'fixed' else 'n_classes'}), got {len(self.labels)}"
            )
        if self.method == "fixed":
            if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
                raise ValueError(f"preprocess.bins.edges must be strictly increasing, got {self.edges}")
            if any(not 0 < e < 10 for e in self.edges):
                raise ValueError(f"preprocess.bins.edges must lie strictly between 0 and 10, got {self.edges}")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"preprocess.bins.labels must be unique, got {self.labels}")
        return self

    def label_names(self) -> list[str]:
        return list(self.labels) or [f"class_{i}" for i in range(self.size)]


class SplitParams(Section):
    val: float = Field(0.15, gt=0, lt=0.5, description="Fraction of each class for validation.")
    test: float = Field(0.15, gt=0, lt=0.5, description="Fraction of each class for test.")
    near_duplicates: bool = Field(
        True, description="Group near-duplicate texts (MinHash) so a group never straddles splits."
    )
    near_duplicate_threshold: float = Field(
        0.8, gt=0, le=1, description="Estimated Jaccard similarity of word 3-gram sets that makes two texts one group."
    )


class PreprocessParams(Section):
    normalize: NormalizeParams = Field(default_factory=NormalizeParams, description="Normalisation switches.")
    clitics: Literal["keep", "split"] = Field(
        "keep",
        description="split: detach the conjunctions و/ف and the prepositions ب/ك/ل from a following article "
        "(والكتاب → و الكتاب, للبيت → ل البيت); keep: leave words whole.",
    )
    remove_stopwords: bool = Field(True, description="Drop stopwords (the default list keeps negations).")
    stopwords_file: str | None = Field(
        None, description="A UTF-8 file, one stopword per line (# comments), used instead of the built-in list."
    )
    stemmer: Literal["light", "isri", "snowball", "arlstem", "arlstem2", "qalsadi", "none"] = Field(
        "light",
        description="light (default), isri (root), snowball, arlstem, arlstem2, qalsadi (lemmatiser; GPL, "
        "optional extra: make setup-lemmatise) or none.",
    )
    protected_words_file: str | None = Field(
        None,
        description="A UTF-8 file, one word per line (# comments), of words no stemmer touches, used instead of "
        "the built-in list (pipeline/text/protected_ar.txt: الله, اللي, …); an empty file protects nothing.",
    )
    min_token_freq: int = Field(2, ge=1, description="Minimum train-split count for a vocabulary entry.")
    max_vocab_size: int = Field(20000, ge=10, description="Vocabulary cap, specials included.")
    bins: BinsParams = Field(default_factory=BinsParams, description="Score discretisation into classes.")
    split: SplitParams = Field(default_factory=SplitParams, description="Stratified split fractions.")
    num_workers: int = Field(1, ge=0, description="Processes for text processing (0 = all cores).")
    max_samples: int = Field(0, ge=0, description="Use only the first N documents of the source (0 = all).")

    @field_validator("stopwords_file", "protected_words_file")
    @classmethod
    def _file_exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"file {value!r} not found")
        return value


class DataParams(Section):
    source: Literal["scrape", "file", "huggingface"] = Field(
        "scrape",
        description="scrape: the scrape stage's output; file: a local CSV/TSV/JSONL/Parquet file (`path`); "
        "huggingface: a dataset name or local folder (`hf_name`).",
    )
    path: str = Field("data/external", description="file source: the file to read (a DVC dependency of preprocess).")
    format: Literal["auto", "csv", "tsv", "jsonl", "parquet"] = Field(
        "auto", description="file source: the format; auto = from the extension (.csv .tsv .jsonl/.json .parquet)."
    )
    encoding: str = Field("utf-8", description="file source: text encoding of CSV/TSV/JSONL files.")
    text_column: str = Field("text", description="Column holding the document text.")
    score_column: str | None = Field(
        "score", description="Column holding a 0–10 score (binned by preprocess.bins); null when using labels."
    )
    label_column: str | None = Field(
        None, description="Column holding a class label instead of a score (classes = sorted distinct labels)."
    )
    score_scale: list[float] = Field(
        default_factory=lambda: [0.0, 10.0],
        description="[worst, best] of the score column; scores are rescaled from it to 0–10.",
    )
    id_column: str | None = Field(None, description="Optional column with a document id or URL.")
    split_column: str | None = Field(
        None,
        description="Optional column with each document's predefined split, used as given (an official benchmark "
        "split): train/val/test (validation and dev mean val), or train/test only (val then carved from train by "
        "preprocess.split.val, stratified). Duplicates across splits are counted in the summary, never dropped "
        "from test.",
    )
    hf_name: str | None = Field(None, description="huggingface source: dataset name or local dataset folder.")
    hf_config: str | None = Field(None, description="huggingface source: configuration name.")
    hf_split: str = Field("train", description="huggingface source: split to read.")

    @model_validator(mode="after")
    def _complete(self) -> DataParams:
        if (self.score_column is None) == (self.label_column is None) and self.source != "scrape":
            raise ValueError("data: set exactly one of score_column and label_column")
        if self.source == "huggingface" and not self.hf_name:
            raise ValueError("data.hf_name is required when data.source is 'huggingface'")
        if self.source == "file" and not Path(self.path).is_file():
            raise ValueError(f"data.path {self.path!r} is not a file (data.source is 'file')")
        if len(self.score_scale) != 2 or self.score_scale[0] >= self.score_scale[1]:
            raise ValueError(f"data.score_scale must be [worst, best] with worst < best, got {self.score_scale}")
        return self
