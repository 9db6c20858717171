"""Training one language model (``lstm_lm`` or ``gpt2``) on packed blocks through the one fit, saved as an LM
folder (:mod:`pipeline.generation.store`) with its run record; the train_lm stage calls :func:`train_lm`."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.config import LM_NAMES, Params, ParamsError
from pipeline.data.jsonl import DataError, read_json
from pipeline.data.split import read_split
from pipeline.tracking import flat_params, provenance
from pipeline.training.fit import LM_MONITOR, resumable_settings
from pipeline.training.run_record import RunRecord
from pipeline.training.state import fingerprint


def model_config(params: Params, name: str) -> dict[str, Any]:
    return getattr(params.generate, name).model_dump()


def lm_fingerprint(params: Params, name: str, tokenizer_dir: Path | None) -> str:
    """Params that shape the model and its data, plus the bytes of the data and tokenizer files."""
    processed = Path(params.base.processed_dir)
    files = [processed / n for n in ("classes.json", "train.jsonl", "val.jsonl")]
    if tokenizer_dir is not None:
        files += sorted(p for p in tokenizer_dir.iterdir() if p.is_file())
    train = resumable_settings(params.generate.train)
    return fingerprint(name, params.base.seed, train, model_config(params, name), files=tuple(files))


def load_codec(params: Params, name: str, labels: list[str]) -> tuple[Any, Path | None]:
    """The model's :class:`Codec` and the shared tokenizer folder (None for a checkpoint's own)."""
    from pipeline.generation.tokenizer import Codec, add_lm_tokens, load_tokenizer

    checkpoint = params.generate.gpt2.checkpoint if name == "gpt2" else None
    if checkpoint:
        from transformers import AutoTokenizer

        return Codec(add_lm_tokens(AutoTokenizer.from_pretrained(checkpoint), labels), labels), None
    folder = Path(params.base.models_dir) / "lm" / "tokenizer"
    tokenizer, meta = load_tokenizer(folder)
    if meta["labels"] != labels:
        raise DataError(
            f"{folder}: tokenizer made for labels {meta['labels']}, data has {labels} (re-run lm_tokenizer)"
        )
    return Codec(tokenizer, labels), folder


def train_lm(params: Params, name: str, callbacks: Sequence[Any] = ()) -> RunRecord | None:
    """Train ``name`` and save it to ``<models_dir>/lm/<name>/``; return the run record (None in the non-zero
    ranks of a distributed training, which write nothing).
    ``callbacks``: extra Lightning callbacks (tests interrupt a training with one)."""
    if name not in LM_NAMES:
        raise ParamsError(f"unknown language model {name!r}; allowed: {', '.join(LM_NAMES)}")
    import lightning as L
    import torch
    from torch.utils.data import DataLoader

    from pipeline.generation.metrics import finite_or_none, perplexity
    from pipeline.generation.module import LMModule
    from pipeline.generation.packing import pack, stack, token_stream
    from pipeline.generation.store import save_lm
    from pipeline.training.distributed import is_rank_zero
    from pipeline.training.fit import FitSpec, fit
    from pipeline.training.state import open_state

    base, g = params.base, params.generate
    gt = g.train
    L.seed_everything(base.seed, workers=True)
    processed = Path(base.processed_dir)
    labels = read_json(processed / "classes.json")["labels"]
    codec, shared_dir = load_codec(params, name, labels)
    config = model_config(params, name)

    train_stream = token_stream(codec, read_split(processed / "train.jsonl"), gt.class_token_dropout, base.seed)
    val_stream = token_stream(codec, read_split(processed / "val.jsonl"))
    try:
        train_ds = stack(pack(*train_stream, gt.block_size))
        val_ds = stack(pack(*val_stream, gt.block_size))
    except ValueError as err:
        raise DataError(f"{processed}: {err}") from None
    special = {"bos_token_id": codec.bos_id, "eos_token_id": codec.eos_id}
    module = LMModule(name, codec.vocab_size, config, special, config["lr"], gt.weight_decay, len(labels))
    limit = getattr(module.net, "max_positions", None)
    if limit is not None and gt.block_size > limit:
        raise ParamsError(f"generate.train.block_size ({gt.block_size}) exceeds the model's context ({limit})")

    out_dir = Path(base.models_dir) / "lm" / name
    writer = is_rank_zero(gt)
    if writer:
        shutil.rmtree(out_dir, ignore_errors=True)
    fp = lm_fingerprint(params, name, shared_dir)
    state = open_state(Path(gt.state_dir) / name, fp, gt.resume, name, read_only=not writer)
    hyperparams = flat_params(params, ("base", "generate"))
    spec = FitSpec(
        name=f"train_lm-{name}",
        stage="train_lm",
        monitor=LM_MONITOR,
        mode="min",
        tags={"lm": name},
        hyperparams=hyperparams,
        state=state,
        out_dir=out_dir / "checkpoints",  # read below, then removed: the LM folder is the model
    )
    loaders = (
        DataLoader(train_ds, batch_size=gt.batch_size, shuffle=True, num_workers=gt.num_workers),
        DataLoader(val_ds, batch_size=max(gt.batch_size, 32), shuffle=False, num_workers=gt.num_workers),
    )
    result = fit(module, loaders, gt, base, spec, callbacks=callbacks)
    if not result.rank_zero:
        return None

    best_state = torch.load(result.best, map_location="cpu", weights_only=True)["state_dict"]
    module.load_state_dict(best_state)
    rec = result.recorder
    best = min((r for r in rec.curve if LM_MONITOR in r), key=lambda r: r[LM_MONITOR], default={})
    best_loss = float(best.get(LM_MONITOR, float("nan")))
    summary = result.summary(module.net, best, keeps_last=False)  # the LM folder is the model
    record = RunRecord(
        arch=name,
        stage="train_lm",
        family="lm",
        **provenance(base.seed),
        params=hyperparams,
        **{**summary, "train_time_s": round(rec.batch_s, 2)},  # batches only: the throughput's time
        tokenizer=g.gpt2.checkpoint if (name == "gpt2" and g.gpt2.checkpoint) else "shared",
        vocab_size=codec.vocab_size,
        block_size=gt.block_size,
        train_stream_tokens=len(train_stream[0]),
        train_blocks=len(train_ds),
        val_predicted_tokens=int(sum(int((t != -100).sum()) for _, _, t in val_ds)),
        train_tokens=rec.tokens,
        train_tokens_per_s=rec.tokens_per_s(),
        best_val_loss=round(best_loss, 6),
        val_perplexity=finite_or_none(round(perplexity(best_loss), 4)),
        checkpoint=str(out_dir),
    )
    save_lm(module.net, name, config, codec, out_dir, trained_on="train", source=record.tokenizer)
    shutil.rmtree(out_dir / "checkpoints")
    record.log_to_mlflow(result.client, [record.save(out_dir)])
    return record
