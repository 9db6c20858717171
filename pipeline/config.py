"""Typed, validated view of ``params.yaml``.

Every stage calls :func:`load_params` first, so a misspelt key, a wrong type or an
unknown architecture stops the run before any work starts, with a message that
names the key and, where there is a fixed set, the allowed values.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.models.registry import ARCHITECTURES, is_pretrained

PARAMS_FILE = Path("params.yaml")
STEMMERS = ("light", "isri", "snowball", "none")


class ParamsError(ValueError):
    """``params.yaml`` is missing, unreadable or invalid."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BaseParams(Section):
    seed: int = Field(42, description="Seed for splits, weight init and data order.")
    deterministic: bool = Field(True, description="Use deterministic algorithms (Lightning `deterministic`).")
    raw_dir: str = Field("data/raw", description="Where the scrape stage writes JSON lines.")
    processed_dir: str = Field("data/processed", description="Where the preprocess stage writes splits.")
    models_dir: str = Field("models", description="One sub-folder per architecture.")
    reports_dir: str = Field("reports", description="Metrics, evaluations and the report.")
    mlflow_tracking_uri: str = Field(
        "sqlite:///mlflow.db", description="MLflow store; the default is what a plain `mlflow ui` opens."
    )
    mlflow_experiment: str = Field("arabic-reviews", description="MLflow experiment name.")


class ScrapeParams(Section):
    site: Literal["demo", "urls"] = Field(
        "demo", description="`demo`: build and serve the embedded demo site; `urls`: crawl the start URLs."
    )
    start_urls: list[str] = Field(default_factory=list, description="Seed URLs when `site: urls`.")
    start_urls_file: str = Field(
        "inputs/seed_urls.txt",
        description="More seed URLs, one per line (`#` comments); a DVC dependency of the scrape stage.",
    )
    allowed_domains: list[str] = Field(
        default_factory=list, description="Domains to stay on (subdomains included); empty = the seeds' hosts."
    )
    allow: list[str] = Field(
        default_factory=list, description="Regexes: follow only URLs matching one of them (empty = all)."
    )
    deny: list[str] = Field(default_factory=list, description="Regexes: never follow URLs matching one of them.")
    max_pages: int = Field(0, ge=0, description="Stop after this many responses (0 = no limit).")
    max_depth: int = Field(0, ge=0, description="Maximum link depth from a start URL (0 = no limit).")
    concurrency: int = Field(8, ge=1, description="Concurrent requests, total and per domain.")
    download_delay: float = Field(0.0, ge=0, description="Seconds between requests to one domain.")
    autothrottle: bool = Field(False, description="Let Scrapy's AutoThrottle adapt the delay to server latency.")
    obey_robots: bool = Field(True, description="Respect robots.txt.")
    user_agent: str = Field(
        "arabic-ml-pipeline (+https://example.invalid/bot)", min_length=1, description="User-Agent header."
    )
    timeout_s: float = Field(20.0, gt=0, description="Download timeout per request, seconds.")
    retries: int = Field(2, ge=0, description="Retries of a failed request (timeouts, 5xx) before giving up.")
    max_redirects: int = Field(5, ge=0, description="Redirect hops followed from one URL.")
    max_page_bytes: int = Field(10_000_000, ge=1024, description="Larger responses are abandoned (`too_large`).")
    documents: Literal["reviews", "all"] = Field(
        "reviews",
        description="`reviews`: only pages with a review or a score become documents; `all`: every HTML page "
        "(unlabelled ones get score null).",
    )
    text_selectors: list[str] = Field(
        default_factory=list,
        description="CSS (or XPath: starting with / or xpath:) selectors tried in order for the text; empty = "
        'an itemprop="reviewBody" element, the review\'s reviewBody, else boilerplate removal.',
    )
    score_selectors: list[str] = Field(
        default_factory=list,
        description="CSS/XPath selectors whose text holds the score, for pages without schema.org ratings.",
    )
    score_best: float = Field(5.0, description="Best value of the score_selectors scale (maps to 10).")
    score_worst: float = Field(0.0, description="Worst value of the score_selectors scale (maps to 0).")
    annotations_file: str = Field(
        "inputs/annotations.csv",
        description="CSV (url,score) or JSON lines of 0-10 scores by URL; wins over on-page ratings. "
        "A DVC dependency of the scrape stage.",
    )
    min_arabic_ratio: float = Field(
        0.6, ge=0, le=1, description="Minimum share of Arabic-script letters among all letters of a document."
    )
    near_duplicate_threshold: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Estimated Jaccard similarity of word 5-shingles from which a text is a near duplicate.",
    )
    state_dir: str = Field(
        "data/scrape-state", description="Crawl journal of an unfinished crawl (resumed by the next run)."
    )
    resume: bool = Field(True, description="Resume an interrupted crawl from state_dir (false: start afresh).")

    @field_validator("allow", "deny")
    @classmethod
    def _regexes(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"{pattern!r} is not a valid regular expression ({err})") from None
        return value

    @field_validator("text_selectors", "score_selectors")
    @classmethod
    def _selectors(cls, value: list[str]) -> list[str]:
        from parsel import Selector

        probe = Selector(text="<html><body><p>x</p></body></html>")
        for expression in value:
            try:
                if expression.startswith(("xpath:", "/", "(", "./")):  # as scraping.extract.select reads it
                    probe.xpath(expression.removeprefix("xpath:"))
                else:
                    probe.css(expression)
            except Exception as err:  # cssselect and lxml raise several types
                raise ValueError(f"{expression!r} is not a valid CSS/XPath selector ({err})") from None
        return value

    @model_validator(mode="after")
    def _urls_needed(self) -> ScrapeParams:
        for url in self.start_urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"scrape.start_urls: {url!r} is not an http(s) URL")
        if self.site == "urls" and not self.start_urls and not _has_urls(self.start_urls_file):
            raise ValueError(
                "scrape.start_urls (or the file named by scrape.start_urls_file) must list at least one URL "
                "when scrape.site is 'urls'"
            )
        if self.score_best == self.score_worst:
            raise ValueError("scrape.score_best and scrape.score_worst must differ")
        return self


def _has_urls(path: str) -> bool:
    file = Path(path)
    if not file.is_file():
        return False
    return any(line.split("#", 1)[0].strip() for line in file.read_text(encoding="utf-8").splitlines())


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
        "optional install) or none.",
    )
    min_token_freq: int = Field(2, ge=1, description="Minimum train-split count for a vocabulary entry.")
    max_vocab_size: int = Field(20000, ge=10, description="Vocabulary cap, specials included.")
    bins: BinsParams = Field(default_factory=BinsParams, description="Score discretisation into classes.")
    split: SplitParams = Field(default_factory=SplitParams, description="Stratified split fractions.")
    num_workers: int = Field(1, ge=0, description="Processes for text processing (0 = all cores).")
    max_samples: int = Field(0, ge=0, description="Use only the first N documents of the source (0 = all).")

    @field_validator("stopwords_file")
    @classmethod
    def _stopwords_exist(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"stopwords file {value!r} not found")
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


class TrainerKeys(Section):
    """Trainer keys every training section shares (temporary until the config split)."""

    max_epochs: int = Field(15, ge=1, description="Upper bound on epochs.")
    patience: int = Field(4, ge=1, description="Early-stopping patience, in epochs.")
    accelerator: Literal["auto", "cpu", "gpu"] = Field("auto", description="Lightning accelerator.")
    devices: int | Literal["auto"] = Field(1, description="Devices (processes) per node.")
    num_nodes: int = Field(1, ge=1, description="Machines.")
    strategy: Literal["auto", "ddp", "ddp_spawn", "fsdp"] = Field("auto", description="Lightning strategy.")
    precision: Literal["auto", "32", "16-mixed", "bf16-mixed"] = Field(
        "auto", description="Precision on a GPU (auto: bf16-mixed where supported, else 16-mixed); 32 on CPU."
    )
    grad_clip: float = Field(1.0, ge=0, description="Gradient-norm clip (0 = off).")
    limit_train_batches: float = Field(1.0, gt=0, le=1, description="Fraction of train batches per epoch.")
    num_threads: int = Field(0, ge=0, description="torch intra-op threads (0: the available cores per process).")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes.")


class TrainParams(TrainerKeys):
    architectures: list[str] = Field(
        default_factory=lambda: ["lstm", "gru"], description="Architectures to train, one DVC stage each."
    )
    seeds: list[int] = Field(
        default_factory=list,
        description="Train each architecture once per seed (the first is the primary model, the others go to "
        "models/<arch>/seeds/<seed>/; the report gives mean ± std). Empty: once, with base.seed.",
    )
    max_epochs: int = Field(15, ge=1, description="Upper bound on epochs.")
    patience: int = Field(4, ge=1, description="Early-stopping patience on val/f1_macro, in epochs.")
    batch_size: int = Field(32, ge=1, description="Training batch size.")
    lr: float = Field(3e-3, gt=0, description="Adam learning rate.")
    weight_decay: float = Field(0.0, ge=0, description="Adam weight decay.")
    embedding_dim: int = Field(32, ge=1, description="Token embedding size.")
    embedding_init: Literal["random", "word2vec", "fasttext"] = Field(
        "random",
        description="Initial embeddings: random, or word2vec / fastText vectors the embeddings stage trains on the "
        "train + val text (fastText also maps out-of-vocabulary words to their nearest vocabulary word).",
    )
    freeze_embeddings: bool = Field(
        False, description="Keep the word2vec/fastText embeddings fixed during training (false: fine-tune them)."
    )
    hidden_dim: int = Field(32, ge=1, description="Recurrent hidden size (per direction).")
    num_layers: int = Field(1, ge=1, description="Stacked recurrent layers.")
    dropout: float = Field(0.5, ge=0, lt=1, description="Dropout before the classifier head.")
    pooling: Literal["last", "mean", "max", "attention"] = Field(
        "mean",
        description="How token states become one vector (recurrent and transformer): last real step, mean, max, "
        "or attention (a learned score per token, softmax over real tokens).",
    )
    transformer_layers: int = Field(2, ge=1, description="transformer: encoder layers.")
    transformer_heads: int = Field(2, ge=1, description="transformer: attention heads (must divide embedding_dim).")
    transformer_ff_dim: int = Field(64, ge=1, description="transformer: feed-forward width (dim_feedforward).")
    transformer_dropout: float = Field(0.1, ge=0, lt=1, description="transformer: dropout inside encoder layers.")
    cnn_kernel_sizes: list[int] = Field(
        default_factory=lambda: [2, 3, 4], description="cnn, cnn_bag: one convolution per kernel size (tokens)."
    )
    cnn_filters: int = Field(32, ge=1, description="cnn, cnn_bag: filters per kernel size.")
    ngram_buckets: int = Field(
        50_000,
        ge=2,
        description="nbow, cnn_bag: rows of the hashed word-bigram table (row 0 is padding's, always zero).",
    )
    max_length: int = Field(200, ge=1, description="Tokens kept per document (the rest is cut).")
    grad_clip: float = Field(1.0, ge=0, description="Gradient-norm clip (0 = off).")
    accelerator: Literal["auto", "cpu", "gpu"] = Field("auto", description="Lightning accelerator.")
    limit_train_batches: float = Field(1.0, gt=0, le=1, description="Fraction of train batches per epoch.")
    scheduler: Literal["none", "linear", "cosine", "plateau"] = Field(
        "none",
        description="LR schedule: none (constant); linear or cosine (warmup_ratio of the steps linear warmup, then "
        "linear/cosine decay to 0, per step); plateau (ReduceLROnPlateau on val/f1_macro, halves the LR).",
    )
    warmup_ratio: float = Field(
        0.0, ge=0, lt=1, description="linear/cosine: fraction of all training steps spent warming up."
    )
    class_weights: Literal["none", "balanced"] = Field(
        "none",
        description="Loss weights per class: none, or balanced (n_train / (n_classes * count), from the train split).",
    )
    precision: Literal["auto", "32", "16-mixed", "bf16-mixed"] = Field(
        "auto",
        description="Lightning precision on a GPU (auto: bf16-mixed where supported, else 16-mixed); always 32 on CPU.",
    )
    resume: bool = Field(
        True,
        description="Resume an interrupted training from its last.ckpt in state_dir (only with the same params and "
        "data; false: start afresh).",
    )
    state_dir: str = Field(
        "data/train-state", description="last.ckpt of unfinished trainings, one folder per architecture."
    )

    @field_validator("architectures")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("must name at least one architecture")
        for name in value:
            if name not in ARCHITECTURES:
                raise ValueError(f"unknown architecture {name!r}; allowed: {', '.join(sorted(ARCHITECTURES))}")
            if is_pretrained(name):
                raise ValueError(f"{name!r} is a pretrained transformer: use finetune.architectures")
        if len(set(value)) != len(value):
            raise ValueError(f"lists an architecture twice: {value}")
        return value

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError(f"lists a seed twice: {value}")
        if any(s < 0 for s in value):
            raise ValueError(f"seeds must be >= 0, got {value}")
        return value

    @field_validator("cnn_kernel_sizes")
    @classmethod
    def _kernels(cls, value: list[int]) -> list[int]:
        if not value or any(k < 1 for k in value):
            raise ValueError(f"needs at least one kernel size, each >= 1, got {value}")
        return value

    @model_validator(mode="after")
    def _heads_divide(self) -> TrainParams:
        if self.embedding_dim % self.transformer_heads:
            raise ValueError(
                f"train.transformer_heads ({self.transformer_heads}) must divide train.embedding_dim "
                f"({self.embedding_dim})"
            )
        return self


class EmbeddingsParams(Section):
    corpus: Literal["splits", "all"] = Field(
        "all",
        description="Text the vectors learn from: `splits` = the train + val splits' tokens; `all` = every document of "
        "the data source, labelled or not, plus pretrain.corpus_dir, minus the test split and its near-duplicates "
        "(the pretraining corpus), tokenised like the splits.",
    )
    window: int = Field(5, ge=1, description="Context window (words each side).")
    min_count: int = Field(1, ge=1, description="Words rarer than this in the corpus get no own vector.")
    epochs: int = Field(10, ge=1, description="Passes over the corpus.")
    skip_gram: bool = Field(True, description="Skip-gram (true) or CBOW (false).")
    min_n: int = Field(3, ge=1, description="fastText: shortest character n-gram.")
    max_n: int = Field(5, ge=1, description="fastText: longest character n-gram.")
    buckets: int = Field(
        100_000, ge=1000, description="fastText: hash buckets for n-gram vectors (memory = buckets x dim floats)."
    )

    @model_validator(mode="after")
    def _ngram_range(self) -> EmbeddingsParams:
        if self.min_n > self.max_n:
            raise ValueError(f"embeddings.min_n ({self.min_n}) must not exceed embeddings.max_n ({self.max_n})")
        return self


class PretrainParams(TrainerKeys):
    """The pretrain stage: a small BERT pre-trained with masked-language modelling on our own corpus."""

    output_dir: str = Field(
        "models/pretrained", description="Where the pretrain stage writes its Hugging Face folders (<output_dir>/bert)."
    )
    corpus_dir: str = Field(
        "inputs/corpus",
        description="More unlabelled text for pretraining: every .txt (one document per line) and .jsonl (a `text` "
        "key per line) file in this folder, added to the data source's documents; a DVC dependency.",
    )
    vocab_size: int = Field(2000, ge=100, description="WordPiece vocabulary size (specials included).")
    min_frequency: int = Field(2, ge=1, description="WordPiece: minimum count of a merged piece.")
    hidden_size: int = Field(64, ge=8, description="BERT hidden size.")
    num_layers: int = Field(2, ge=1, description="BERT encoder layers.")
    num_heads: int = Field(2, ge=1, description="Attention heads (must divide hidden_size).")
    intermediate_size: int = Field(128, ge=8, description="Feed-forward width of each layer.")
    dropout: float = Field(0.1, ge=0, lt=1, description="Hidden and attention dropout.")
    max_length: int = Field(128, ge=8, le=4096, description="Wordpieces per document (also the position limit).")
    mask_probability: float = Field(
        0.15, gt=0, lt=1, description="Share of wordpieces selected for MLM (80% [MASK], 10% random, 10% kept)."
    )
    max_epochs: int = Field(20, ge=1, description="Passes over the pretraining corpus.")
    batch_size: int = Field(32, ge=1, description="Documents per MLM batch.")
    lr: float = Field(3e-3, gt=0, description="AdamW learning rate.")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay (not on biases and LayerNorm).")
    scheduler: Literal["none", "linear", "cosine"] = Field(
        "linear", description="LR schedule per step: none, or linear warmup then linear/cosine decay to 0."
    )
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="Fraction of the steps spent warming up.")
    val_fraction: float = Field(
        0.1, ge=0, lt=0.5, description="Share of the corpus held out for validation MLM loss/perplexity (0 = none)."
    )
    grad_clip: float = Field(1.0, ge=0, description="Gradient-norm clip (0 = off).")
    accelerator: Literal["auto", "cpu", "gpu"] = Field("auto", description="Lightning accelerator.")
    precision: Literal["auto", "32", "16-mixed", "bf16-mixed"] = Field(
        "auto", description="Precision on a GPU (auto: bf16-mixed where supported, else 16-mixed); 32 on CPU."
    )
    resume: bool = Field(True, description="Resume an interrupted pretraining from its last.ckpt in state_dir.")
    state_dir: str = Field("data/pretrain-state", description="last.ckpt of an unfinished pretraining.")

    @model_validator(mode="after")
    def _heads_divide(self) -> PretrainParams:
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"pretrain.num_heads ({self.num_heads}) must divide pretrain.hidden_size ({self.hidden_size})"
            )
        return self


class FinetuneParams(TrainerKeys):
    architectures: list[str] = Field(
        default_factory=list,
        description="Pretrained-transformer classifiers to fine-tune, one DVC stage each (finetune@<arch>).",
    )
    checkpoints: dict[str, str] = Field(
        default_factory=dict,
        description="Per architecture, a Hugging Face hub name (online) or a local folder to start from; "
        "bert defaults to the pretrain stage's <pretrain.output_dir>/bert, electra has no offline default.",
    )
    normalize: bool = Field(
        True,
        description="Apply preprocess.normalize to the text before the checkpoint's tokenizer (the pretrain stage "
        "always does; turn off for hub checkpoints whose vocabulary expects unnormalised text).",
    )
    max_epochs: int = Field(20, ge=1, description="Upper bound on epochs.")
    patience: int = Field(5, ge=1, description="Early-stopping patience on val/f1_macro, in epochs.")
    batch_size: int = Field(32, ge=1, description="Training batch size.")
    lr: float = Field(
        2e-3, gt=0, description="AdamW learning rate (for our tiny BERT; about 2e-5 to 5e-5 for full-size hub models)."
    )
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay (not on biases and LayerNorm).")
    scheduler: Literal["none", "linear", "cosine"] = Field(
        "linear", description="LR schedule per step: none, or linear warmup then linear/cosine decay to 0."
    )
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="Fraction of all training steps spent warming up.")
    max_length: int = Field(128, ge=8, description="Wordpieces kept per document (the rest is cut).")
    class_weights: Literal["none", "balanced"] = Field(
        "none", description="Loss weights per class: none, or balanced (n_train / (n_classes * count))."
    )
    grad_clip: float = Field(1.0, ge=0, description="Gradient-norm clip (0 = off).")
    accelerator: Literal["auto", "cpu", "gpu"] = Field("auto", description="Lightning accelerator.")
    precision: Literal["auto", "32", "16-mixed", "bf16-mixed"] = Field(
        "auto", description="Precision on a GPU (auto: bf16-mixed where supported, else 16-mixed); 32 on CPU."
    )
    limit_train_batches: float = Field(1.0, gt=0, le=1, description="Fraction of train batches per epoch.")
    resume: bool = Field(
        True, description="Resume an interrupted fine-tuning from its last.ckpt in state_dir (same params and data)."
    )
    state_dir: str = Field("data/finetune-state", description="last.ckpt of unfinished fine-tunings, per architecture.")

    @field_validator("architectures")
    @classmethod
    def _pretrained(cls, value: list[str]) -> list[str]:
        for name in value:
            if not is_pretrained(name):
                allowed = ", ".join(sorted(a for a in ARCHITECTURES if is_pretrained(a)))
                hint = " (it is trained by the train stage: use train.architectures)" if name in ARCHITECTURES else ""
                raise ValueError(f"{name!r} is not a pretrained-transformer architecture{hint}; allowed: {allowed}")
        if len(set(value)) != len(value):
            raise ValueError(f"lists an architecture twice: {value}")
        return value

    @field_validator("checkpoints")
    @classmethod
    def _checkpoint_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for name, checkpoint in value.items():
            if not is_pretrained(name):
                allowed = ", ".join(sorted(a for a in ARCHITECTURES if is_pretrained(a)))
                raise ValueError(f"key {name!r} is not a pretrained-transformer architecture; allowed: {allowed}")
            if not checkpoint.strip():
                raise ValueError(f"{name}: empty checkpoint (a hub name or a local folder)")
        return value

    @model_validator(mode="after")
    def _offline_defaults(self) -> FinetuneParams:
        for name in self.architectures:
            if name not in self.checkpoints and not ARCHITECTURES[name].option("offline_default", False):
                raise ValueError(
                    f"finetune.checkpoints.{name}: no offline {name} checkpoint is built by this pipeline; set "
                    f"finetune.checkpoints.{name} to a hub name (online) or a local folder"
                )
        return self


class EvaluateParams(Section):
    batch_size: int = Field(64, ge=1, description="Batch size for test-set inference.")
    examples: int = Field(5, ge=0, description="Test documents kept per architecture for the report.")
    bootstrap_resamples: int = Field(
        1000, ge=10, description="Bootstrap resamples of the test split for the accuracy / macro-F1 intervals."
    )
    confidence_level: float = Field(0.95, gt=0, lt=1, description="Level of the bootstrap (percentile) intervals.")
    ece_bins: int = Field(10, ge=1, description="Equal-width confidence bins for the expected calibration error.")
    mcnemar_exact_below: int = Field(
        25,
        ge=0,
        description="McNemar: exact binomial test when the discordant pairs are fewer than this, else chi-square "
        "with continuity correction.",
    )
    significance_level: float = Field(
        0.05, gt=0, lt=1, description="A difference to the best model is called real below this Holm-adjusted p."
    )
    confident_errors: int = Field(
        3, ge=0, description="Most confidently wrong test documents kept per true class and architecture."
    )
    explain_documents: int = Field(
        3, ge=0, description="Test documents explained token by token (attention or integrated gradients)."
    )
    ig_steps: int = Field(32, ge=2, description="Integrated-gradients interpolation steps.")


class RegistryParams(Section):
    model_name: str = Field(
        "arabic-reviews-classifier", min_length=1, description="Name of the best classifier in the MLflow registry."
    )
    alias: str = Field("champion", min_length=1, description="Registry alias moved to each newly registered version.")
    select_by: Literal["val", "test"] = Field(
        "val",
        description="Pick the model to register by validation macro-F1 (val: the test split stays an unbiased "
        "estimate) or by test macro-F1 (test).",
    )

    @field_validator("alias")
    @classmethod
    def _alias_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", value) or re.fullmatch(r"v\d+", value):
            raise ValueError("must be letters, digits, _ or - (and not v<number>)")
        return value


class ReportParams(Section):
    title: str = Field("Arabic review classifiers", description="Title of the report.")


# --- generate: language models and text generation (issue 5) ---------------------------------------------

LM_NAMES = ("lstm_lm", "gpt2")
ARABIC_LETTER = re.compile("[\u0621-\u064a\u0660-\u0669\u0671-\u06d3]")


class LMTokenizerParams(Section):
    vocab_size: int = Field(1000, ge=300, description="Byte-level BPE vocabulary size (256 bytes + merges + specials).")
    min_frequency: int = Field(2, ge=1, description="Minimum train-split pair count for a BPE merge.")


class LMTrainParams(TrainerKeys):
    block_size: int = Field(64, ge=4, description="Tokens per packed training block (documents are concatenated).")
    max_epochs: int = Field(8, ge=1, description="Upper bound on epochs per language model.")
    patience: int = Field(2, ge=1, description="Early-stopping patience on val/loss, in epochs.")
    batch_size: int = Field(8, ge=1, description="Blocks per training batch.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    grad_clip: float = Field(1.0, ge=0, description="Gradient-norm clip (0 = off).")
    class_token_dropout: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Share of training documents (chosen by seed) written without their class token, so the models "
        "also generate unconditionally.",
    )
    accelerator: Literal["auto", "cpu", "gpu"] = Field("auto", description="Lightning accelerator.")
    limit_train_batches: float = Field(1.0, gt=0, le=1, description="Fraction of train batches per epoch.")
    resume: bool = Field(True, description="Resume an interrupted training from its last.ckpt in state_dir.")
    state_dir: str = Field("data/lm-state", description="Checkpoints of unfinished LM trainings, one folder per model.")


class LSTMLMParams(Section):
    cell: Literal["lstm", "gru"] = Field("lstm", description="Recurrent cell of the language model.")
    embedding_dim: int = Field(128, ge=1, description="Token embedding size.")
    hidden_dim: int = Field(128, ge=1, description="Recurrent hidden size.")
    num_layers: int = Field(1, ge=1, description="Stacked recurrent layers.")
    dropout: float = Field(0.2, ge=0, lt=1, description="Dropout on embeddings and recurrent outputs.")
    tie_weights: bool = Field(
        True, description="Share the input embedding with the output layer (needs embedding_dim == hidden_dim)."
    )
    lr: float = Field(1e-2, gt=0, description="AdamW learning rate.")

    @model_validator(mode="after")
    def _tied(self) -> LSTMLMParams:
        if self.tie_weights and self.embedding_dim != self.hidden_dim:
            raise ValueError(
                f"generate.lstm_lm.tie_weights needs embedding_dim ({self.embedding_dim}) == hidden_dim "
                f"({self.hidden_dim})"
            )
        return self


class GPT2Params(Section):
    checkpoint: str | None = Field(
        None,
        description="null: a small GPT-2 trained from scratch on the shared tokenizer; else a Hugging Face hub name "
        "(online) or a local folder to fine-tune, with its own tokenizer (perplexities then not comparable).",
    )
    n_layer: int = Field(2, ge=1, description="From scratch: transformer blocks.")
    n_head: int = Field(2, ge=1, description="From scratch: attention heads (must divide n_embd).")
    n_embd: int = Field(128, ge=8, description="From scratch: hidden size.")
    n_positions: int = Field(256, ge=8, description="From scratch: longest context in tokens.")
    dropout: float = Field(0.1, ge=0, lt=1, description="From scratch: residual, embedding and attention dropout.")
    lr: float = Field(3e-3, gt=0, description="AdamW learning rate.")

    @model_validator(mode="after")
    def _heads(self) -> GPT2Params:
        if self.n_embd % self.n_head:
            raise ValueError(f"generate.gpt2.n_head ({self.n_head}) must divide generate.gpt2.n_embd ({self.n_embd})")
        return self


class DecodingParams(Section):
    greedy: bool = Field(False, description="Always take the most likely token (temperature/top-k/top-p ignored).")
    temperature: float = Field(1.0, gt=0, le=10, description="Divide the logits by this before sampling.")
    top_k: int = Field(0, ge=0, description="Sample only among the k most likely tokens (0 = off).")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling: smallest set of tokens with this mass.")
    repetition_penalty: float = Field(
        1.0, ge=1, le=10, description="Divide positive (multiply negative) logits of tokens already present (1 = off)."
    )


def _default_decodings() -> dict[str, DecodingParams]:
    return {
        "greedy": DecodingParams(greedy=True, repetition_penalty=1.3),
        "sampled": DecodingParams(temperature=0.9, top_k=40, top_p=0.95, repetition_penalty=1.2),
    }


class GenerateEvalParams(Section):
    continuation_docs: int = Field(40, ge=1, description="Test documents whose continuation is generated (BLEU/chrF).")
    prompt_words: int = Field(8, ge=1, description="Words of a test document given as the prompt.")
    reference_words: int = Field(
        20, ge=1, description="Words of the real continuation scored against (the generation is cut to as many)."
    )
    agreement_per_class: int = Field(
        20, ge=1, description="Texts generated per class for the classifier agreement check."
    )
    agreement_with_prompts: bool = Field(
        False,
        description="Agreement texts start after the topic prompts (in turn) instead of from the class alone "
        "(a prompt's own words then sway the classifier).",
    )
    decoding: str = Field("sampled", description="Name in generate.decodings used for continuations and agreement.")


class GenerateParams(Section):
    models: list[str] = Field(
        default_factory=lambda: list(LM_NAMES), description="Language models to train, one DVC stage each."
    )
    tokenizer: LMTokenizerParams = Field(default_factory=LMTokenizerParams, description="Shared LM tokenizer.")
    train: LMTrainParams = Field(default_factory=LMTrainParams, description="Training shared by the LMs.")
    lstm_lm: LSTMLMParams = Field(default_factory=LSTMLMParams, description="The recurrent language model.")
    gpt2: GPT2Params = Field(default_factory=GPT2Params, description="The GPT-2 causal language model.")
    max_prompt_tokens: int = Field(32, ge=1, description="Longer prompts (in LM tokens) are rejected.")
    max_prompt_chars: int = Field(400, ge=1, description="Longer prompts (in characters) are rejected.")
    max_new_tokens: int = Field(40, ge=1, description="Generation stops after this many new tokens.")
    decodings: dict[str, DecodingParams] = Field(
        default_factory=_default_decodings, description="Named decoding settings; every sample uses each."
    )
    prompts: dict[str, list[str]] = Field(
        default_factory=lambda: {"restaurants": ["الطعام في هذا المطعم"]},
        description="Prompts per topic for the samples in the report.",
    )
    default_model: str = Field("gpt2", description="Model used by `python -m pipeline generate` without --model.")
    eval: GenerateEvalParams = Field(default_factory=GenerateEvalParams, description="Held-out evaluation.")

    @field_validator("models")
    @classmethod
    def _known_models(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("must name at least one language model")
        for name in value:
            if name not in LM_NAMES:
                raise ValueError(f"unknown language model {name!r}; allowed: {', '.join(LM_NAMES)}")
        if len(set(value)) != len(value):
            raise ValueError(f"lists a model twice: {value}")
        return value

    @field_validator("prompts")
    @classmethod
    def _arabic_prompts(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for topic, prompts in value.items():
            for i, prompt in enumerate(prompts):
                if not prompt.strip():
                    raise ValueError(f"generate.prompts.{topic}[{i}] is empty")
                if not ARABIC_LETTER.search(prompt):
                    raise ValueError(f"generate.prompts.{topic}[{i}] ({prompt!r}) has no Arabic letter")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> GenerateParams:
        if not self.decodings:
            raise ValueError("generate.decodings must define at least one decoding")
        if self.eval.decoding not in self.decodings:
            raise ValueError(
                f"generate.eval.decoding {self.eval.decoding!r} is not in generate.decodings "
                f"({', '.join(self.decodings)})"
            )
        if self.default_model not in self.models:
            raise ValueError(f"generate.default_model {self.default_model!r} is not in generate.models {self.models}")
        if self.gpt2.checkpoint is None:
            if self.train.block_size > self.gpt2.n_positions:
                raise ValueError(
                    f"generate.train.block_size ({self.train.block_size}) exceeds generate.gpt2.n_positions "
                    f"({self.gpt2.n_positions})"
                )
            needed = self.max_prompt_tokens + self.max_new_tokens + 2  # + <s> and a class token
            if needed > self.gpt2.n_positions:
                raise ValueError(
                    f"generate.max_prompt_tokens + generate.max_new_tokens + 2 ({needed}) exceeds "
                    f"generate.gpt2.n_positions ({self.gpt2.n_positions})"
                )
        return self


# --- tuning (issue 6) -------------------------------------------------------------------------------------
# Keys tuning may not search: they pick what is trained or how, change the labels/splits (the test split
# must stay untouched), or are set by the tune section itself.
NOT_TUNABLE = {
    "train.architectures": "it names what is trained, not a hyperparameter",
    "train.seeds": "seeds are for repeated final trainings",
    "train.max_epochs": "trials use tune.max_epochs",
    "train.resume": "it is not a hyperparameter",
    "train.state_dir": "it is not a hyperparameter",
    "train.accelerator": "it is not a hyperparameter",
    "train.precision": "it is not a hyperparameter",
    "train.limit_train_batches": "it is not a hyperparameter",
    "preprocess.bins": "it changes the labels",
    "preprocess.split": "it changes the splits (the test split must stay untouched)",
    "preprocess.num_workers": "it is not a hyperparameter",
    "preprocess.max_samples": "it changes the documents",
}


class SearchDim(Section):
    """One dimension of a search space: ``float``, ``log_float``, ``int`` (with ``step``) or ``categorical``."""

    type: Literal["float", "log_float", "int", "categorical"] = Field(
        ..., description="float (uniform), log_float (log-uniform), int (with step) or categorical (choices)."
    )
    low: float | None = Field(None, description="float/log_float/int: lower bound (inclusive).")
    high: float | None = Field(None, description="float/log_float/int: upper bound (inclusive).")
    step: float | None = Field(None, gt=0, description="int: step (default 1); float: optional discretisation.")
    log: bool = Field(False, description="int/float: sample on a log scale (log_float implies it).")
    choices: list[str | int | float | bool | None] | None = Field(
        None, description="categorical: the values to choose from (scalars)."
    )

    @model_validator(mode="after")
    def _complete(self) -> SearchDim:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("type categorical needs a non-empty `choices` list")
            if self.low is not None or self.high is not None:
                raise ValueError("type categorical takes `choices`, not `low`/`high`")
            if len({repr(c) for c in self.choices}) != len(self.choices):
                raise ValueError(f"`choices` lists a value twice: {self.choices}")
            return self
        if self.choices is not None:
            raise ValueError(f"type {self.type} takes `low`/`high`, not `choices`")
        if self.low is None or self.high is None:
            raise ValueError(f"type {self.type} needs `low` and `high`")
        if self.low > self.high:
            raise ValueError(f"`low` ({self.low}) must not exceed `high` ({self.high})")
        if (self.type == "log_float" or self.log) and self.low <= 0:
            raise ValueError(f"a log scale needs `low` > 0, got {self.low}")
        if self.type == "int":
            if self.low != int(self.low) or self.high != int(self.high) or (self.step or 1) != int(self.step or 1):
                raise ValueError("type int needs integer `low`, `high` and `step`")
            if self.log and (self.step or 1) != 1:
                raise ValueError("type int with log: true needs step 1")
        if self.type == "log_float" and self.step is not None:
            raise ValueError("type log_float takes no `step`")
        return self

    def candidates(self) -> list[Any]:
        """The values whose field-level validity is checked: the bounds, or every choice."""
        if self.type == "categorical":
            return list(self.choices or [])
        if self.type == "int":
            return [int(self.low or 0), int(self.high or 0)]
        return [self.low, self.high]


class TuneParams(Section):
    architectures: list[str] = Field(
        default_factory=lambda: ["lstm"],
        description="Architectures tuned by the tune stage (each must be a network in train.architectures); "
        "the others get an empty best-params file and train with params.yaml as it is.",
    )
    n_trials: int = Field(
        8, ge=1, description="Trials with a result (COMPLETE or PRUNED) per study; a rerun only adds the missing ones."
    )
    max_failed_trials: int = Field(
        8, ge=0, description="Stop a study after this many FAIL trials (failed trials do not count towards n_trials)."
    )
    timeout_s: float = Field(
        600.0, ge=0, description="Time budget of one tune invocation, seconds: no trial starts after it (0 = none)."
    )
    max_epochs: int = Field(
        10, ge=1, description="Epochs per trial (at most; the pruner or early stopping may stop a trial earlier)."
    )
    first_trial_defaults: bool = Field(
        True,
        description="A new study's first trial uses the params.yaml values of the searched keys (when they lie in "
        "the space), so the best trial is never worse on val than the untuned params.",
    )
    threads: int = Field(
        1,
        ge=0,
        description="torch threads of a tuning process (0: the available cores). Small trials gain little from more, "
        "and with one thread per worker, several workers do not fight over the cores.",
    )
    sampler: Literal["tpe", "random"] = Field("tpe", description="Optuna sampler, seeded from base.seed.")
    sampler_startup_trials: int = Field(
        4, ge=1, description="tpe: random trials before the model-based sampling starts."
    )
    pruner: Literal["median", "hyperband", "none"] = Field(
        "median",
        description="median: stop a trial whose val/f1_macro is below the median of earlier trials at the same "
        "epoch; hyperband: successive halving brackets over epochs; none: never prune.",
    )
    pruner_startup_trials: int = Field(3, ge=0, description="median: trials that finish before any pruning happens.")
    pruner_warmup_epochs: int = Field(
        1, ge=0, description="median: epochs of each trial that are never pruned (reports before this are ignored)."
    )
    hyperband_min_epochs: int = Field(1, ge=1, description="hyperband: epochs every trial gets (min_resource).")
    hyperband_reduction_factor: int = Field(3, ge=2, description="hyperband: reduction factor between rungs.")
    storage: str = Field(
        "sqlite:///optuna.db",
        description="Optuna RDB URL: a SQLite file (relative to the working directory; not a DVC output, so "
        "studies survive re-runs) or e.g. postgresql://user:pass@host/db for workers on several machines.",
    )
    storage_timeout_s: float = Field(
        60.0, gt=0, description="SQLite: seconds a worker waits for the database lock held by another worker."
    )
    heartbeat_s: int = Field(
        5, ge=1, description="Seconds between trial heartbeats; a RUNNING trial silent for 3 beats is marked FAIL."
    )
    study_name: str = Field(
        "{arch}-{fingerprint}",
        description="Study name template: {arch} and {fingerprint} (hash of the data, the fixed params and the "
        "search space, so incompatible trials never mix).",
    )
    output_dir: str = Field(
        "data/tuned", description="Best params per architecture (<arch>.json), read by the train stage."
    )
    apply: bool = Field(True, description="Train with the tuned params (false: train with params.yaml as it is).")
    search_space: dict[str, SearchDim] = Field(
        default_factory=dict,
        description='Mapping of train.* / preprocess.* keys to dimensions, e.g. "train.lr": {type: log_float, '
        "low: 0.0005, high: 0.03}.",
    )

    @field_validator("architectures")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        from pipeline.models.registry import is_neural

        for name in value:
            if name not in ARCHITECTURES:
                raise ValueError(f"unknown architecture {name!r}; allowed: {', '.join(sorted(ARCHITECTURES))}")
            if not is_neural(name):
                raise ValueError(f"{name!r} is not a network (nothing to tune with Lightning)")
        if len(set(value)) != len(value):
            raise ValueError(f"lists an architecture twice: {value}")
        return value

    @field_validator("search_space")
    @classmethod
    def _space(cls, value: dict[str, SearchDim]) -> dict[str, SearchDim]:
        check_search_space(value)
        return value

    @field_validator("study_name")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            value.format(arch="a", fingerprint="f")
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(f"{value!r}: only {{arch}} and {{fingerprint}} may be used ({err!r})") from None
        return value


def _field_at(dotted: str) -> tuple[Any, str] | None:
    """The pydantic model holding ``dotted`` (e.g. ``preprocess.normalize.unify_alef``) and the leaf name."""
    model: Any = Params
    *parents, leaf = dotted.split(".")
    for part in parents:
        field = model.model_fields.get(part)
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return None
        model = field.annotation
    if leaf not in model.model_fields or (
        isinstance(model.model_fields[leaf].annotation, type)
        and issubclass(model.model_fields[leaf].annotation, BaseModel)
    ):
        return None
    return model, leaf


def check_search_space(space: dict[str, SearchDim]) -> None:
    """Every key names an existing, tunable ``train.*``/``preprocess.*`` param and every bound or choice is a
    valid value for it (cross-field constraints are checked per trial: a trial breaking one fails)."""
    from pydantic import TypeAdapter

    for key, dim in space.items():
        where = key
        if key.split(".", 1)[0] not in ("train", "preprocess"):
            raise ValueError(f"{where}: only train.* and preprocess.* keys can be tuned")
        for banned, why in NOT_TUNABLE.items():
            if key == banned or key.startswith(banned + "."):
                raise ValueError(f"{where} cannot be tuned ({why})")
        found = _field_at(key)
        if found is None:
            raise ValueError(f"{where} is not a params key (see params.yaml)")
        model, leaf = found
        field = model.model_fields[leaf]
        if field.annotation is int and dim.type in ("float", "log_float"):
            raise ValueError(f"{where} is an integer: use type int (or categorical)")
        kind = Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation  # type: ignore[valid-type]
        adapter = TypeAdapter(kind)
        for value in dim.candidates():
            try:
                adapter.validate_python(value)
            except ValidationError as err:
                problem = err.errors()[0]["msg"].removeprefix("Value error, ")
                raise ValueError(f"{where}: {value!r} is not a valid value ({problem})") from None


class Params(Section):
    base: BaseParams = Field(default_factory=BaseParams)
    data: DataParams = Field(default_factory=DataParams)
    scrape: ScrapeParams = Field(default_factory=ScrapeParams)
    preprocess: PreprocessParams = Field(default_factory=PreprocessParams)
    embeddings: EmbeddingsParams = Field(default_factory=EmbeddingsParams)
    train: TrainParams = Field(default_factory=TrainParams)
    pretrain: PretrainParams = Field(default_factory=PretrainParams)
    finetune: FinetuneParams = Field(default_factory=FinetuneParams)
    evaluate: EvaluateParams = Field(default_factory=EvaluateParams)
    report: ReportParams = Field(default_factory=ReportParams)
    generate: GenerateParams = Field(default_factory=GenerateParams)
    registry: RegistryParams = Field(default_factory=RegistryParams)
    tune: TuneParams = Field(default_factory=TuneParams)

    @property
    def classifiers(self) -> list[str]:
        """Every classifier the pipeline trains: ``train.architectures`` then ``finetune.architectures``."""
        return [*self.train.architectures, *self.finetune.architectures]


def _format_error(source: str, err: ValidationError) -> str:
    lines = [f"{source}: invalid params ({err.error_count()} problem(s)):"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            parent = e["loc"][:-1]
            model: Any = Params
            for part in parent:
                field = model.model_fields.get(str(part)) if hasattr(model, "model_fields") else None
                model = field.annotation if field is not None else None
            allowed = ", ".join(model.model_fields) if hasattr(model, "model_fields") else "?"
            msg = f"unknown key; allowed keys here: {allowed}"
        elif isinstance(e.get("input"), str | int | float | bool) and "got" not in msg:
            msg = f"{msg} (got {e['input']!r})"
        lines.append(f"  - {key or '<root>'}: {msg}")
    return "\n".join(lines)


def parse_params(data: Any, source: str = "params.yaml") -> Params:
    """Validate a params mapping; raise :class:`ParamsError` naming each bad key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ParamsError(f"{source}: the top level must be a mapping of sections, got {type(data).__name__}")
    try:
        return Params.model_validate(data)
    except ValidationError as err:
        raise ParamsError(_format_error(source, err)) from None


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    """Read and validate ``params.yaml``."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: file not found (run from the repository root)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    return parse_params(data, str(path))
