"""MLM pretraining of our small BERT: corpus split, WordPiece tokenizer, ``BertForMaskedLM`` through the one fit,
the Hugging Face folder and its run record; the pretrain stage calls :func:`pretrain` when :func:`needed`."""

from __future__ import annotations

import logging
import math
import random
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.config import Params
from pipeline.data.jsonl import DataError
from pipeline.models.registry import ARCHITECTURES
from pipeline.tracking import flat_params, provenance
from pipeline.training.run_record import RunRecord

log = logging.getLogger("pretrain")
ARCH = "bert"
MIN_DOCS = 4


def split_corpus(texts: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Seeded ``(train, val)`` split of the corpus (validation empty when ``fraction`` is 0)."""
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    n_val = round(len(texts) * fraction) if fraction > 0 else 0
    if fraction > 0 and len(texts) >= 10:
        n_val = max(1, n_val)
    val = sorted(order[:n_val])
    train = sorted(order[n_val:])
    return [texts[i] for i in train], [texts[i] for i in val]


def bert_config(params: Params, tokenizer: Any) -> dict[str, Any]:
    pp = params.pretrain
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": pp.hidden_size,
        "num_hidden_layers": pp.num_layers,
        "num_attention_heads": pp.num_heads,
        "intermediate_size": pp.intermediate_size,
        "hidden_dropout_prob": pp.dropout,
        "attention_probs_dropout_prob": pp.dropout,
        "max_position_embeddings": pp.max_length,
        "pad_token_id": tokenizer.pad_token_id,
    }


def pretrain(params: Params, callbacks: Sequence[Any] = ()) -> RunRecord | None:
    """Build the corpus, train tokenizer and MLM, write ``<output_dir>/bert``; return the run record."""
    import lightning as L

    from pipeline.pretrained.corpus import build_corpus, corpus_digest
    from pipeline.pretrained.data import MLMDataModule, encode
    from pipeline.pretrained.hub import load_tokenizer, quiet
    from pipeline.pretrained.modules import MLMModule
    from pipeline.pretrained.text import model_text
    from pipeline.pretrained.tokenizer import train_wordpiece
    from pipeline.training.callbacks import RecordCurve
    from pipeline.training.distributed import is_rank_zero
    from pipeline.training.fit import LM_MONITOR, FitSpec, fit, resumable_settings
    from pipeline.training.optim import optim_settings
    from pipeline.training.state import fingerprint, open_state

    quiet()
    base, pp = params.base, params.pretrain
    normalize = params.preprocess.normalize.model_dump()
    corpus = build_corpus(params)
    if len(corpus.texts) < MIN_DOCS:
        raise DataError(
            f"pretrain: only {len(corpus.texts)} documents left for pretraining (need {MIN_DOCS}); "
            "add unlabelled text files to pretrain.corpus_dir"
        )
    text = model_text(normalize)
    texts = [text(t) for t in corpus.texts]
    train_texts, val_texts = split_corpus(texts, pp.val_fraction, base.seed)
    log.info(
        "pretrain corpus: %d documents (%d train, %d validation), %d test documents or near-duplicates excluded",
        len(texts),
        len(train_texts),
        len(val_texts),
        corpus.excluded_test,
    )
    fp = fingerprint(
        ARCH, base.seed, base.deterministic, resumable_settings(pp), normalize, corpus_digest(corpus.texts)
    )
    out_dir = Path(pp.output_dir) / ARCH
    writer = is_rank_zero(pp)
    if writer:
        shutil.rmtree(out_dir, ignore_errors=True)
    state = open_state(Path(pp.state_dir) / ARCH, fp, pp.resume, "pretrain", read_only=not writer)
    saved_tokenizer = state.dir / "tokenizer"

    L.seed_everything(base.seed, workers=True)
    if state.resume_from is not None:  # the tokenizer of the interrupted run goes with its checkpoint
        tokenizer = load_tokenizer(str(saved_tokenizer))
    else:
        tokenizer = train_wordpiece(train_texts, pp.vocab_size, pp.min_frequency, pp.max_length)
        if writer:
            tokenizer.save_pretrained(str(saved_tokenizer))
    config = bert_config(params, tokenizer)
    module = MLMModule(config, optim_settings(pp))
    dm = MLMDataModule(
        tokenizer,
        encode(tokenizer, train_texts, pp.max_length),
        encode(tokenizer, val_texts, pp.max_length),
        pp.batch_size,
        pp.mask_probability,
        base.seed,
        pp.num_workers,
        whole_word=pp.whole_word_masking,
    )

    class WithPerplexity(RecordCurve):
        def extra(self, row: dict[str, float]) -> dict[str, float]:
            return {
                f"{split}/perplexity": round(math.exp(min(row[f"{split}/loss"], 50.0)), 4)
                for split in ("train", "val")
                if f"{split}/loss" in row
            }

    spec = FitSpec(
        name="pretrain",
        stage="pretrain",
        monitor=LM_MONITOR if val_texts else None,
        mode="min",
        tags={"arch": ARCH},
        hyperparams=flat_params(params, ("base", "pretrain")),
        state=state,
        out_dir=out_dir,
        max_minutes=pp.max_minutes,
    )
    result = fit(module, dm, pp, base, spec, WithPerplexity(), callbacks)
    if not result.rank_zero:
        return None

    best = MLMModule.load_from_checkpoint(result.best, map_location="cpu", weights_only=True)
    best.model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    result.best.unlink()  # the Hugging Face folder is the best model; last.ckpt stays for the record
    curve = result.recorder.curve
    key = "val/loss" if val_texts else "train/loss"
    best_row = min(curve, key=lambda r: r.get(key, float("inf"))) if curve else {}
    record = RunRecord(
        arch=ARCH,
        stage="pretrain",
        family=ARCHITECTURES[ARCH].family,
        description="BERT pre-trained with masked-language modelling on the project's corpus (test split excluded)",
        **provenance(base.seed),
        params=flat_params(params, ("base", "pretrain")),
        bert_config=config,
        normalize=normalize,
        corpus={**corpus.summary(), "train": len(train_texts), "val": len(val_texts)},
        **result.summary(best.model, best_row),
        best_val_loss=best_row.get("val/loss"),
        best_val_perplexity=best_row.get("val/perplexity"),
        checkpoint=str(out_dir),
    )
    record.log_to_mlflow(result.client, [record.save(out_dir)])
    result.client.log_param(result.run_id, "corpus_documents", len(texts))
    return record


def needed(params: Params) -> bool:
    """Whether a fine-tuned architecture starts from the pretrain stage's folder."""
    return any(
        arch not in params.finetune.checkpoints and ARCHITECTURES[arch].option("offline_default", False)
        for arch in params.finetune.architectures
    )
