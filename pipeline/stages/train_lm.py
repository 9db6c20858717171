"""Stage **train_lm@<name>**: train one language model (``lstm_lm`` or ``gpt2``) on packed blocks.

``python -m pipeline train_lm lstm_lm|gpt2`` reads ``base`` and ``generate`` params, the processed
train/val splits and the shared tokenizer (``<models_dir>/lm/tokenizer/``; a GPT-2 fine-tuned from
``generate.gpt2.checkpoint`` uses that checkpoint's tokenizer plus the class tokens instead), trains
with early stopping on ``val/loss`` and writes ``<models_dir>/lm/<name>/`` (see
:mod:`pipeline.generation.store`) with ``run.json``: params, parameter count, tokenizer, token counts,
``train_tokens_per_s`` (training batches only), ``best_val_loss``, ``val_perplexity``, epochs, the
per-epoch ``curve`` (``epoch``, ``train/loss``, ``val/loss``, ``val/perplexity``) and the MLflow run id
(run ``train_lm-<name>``).

Interrupted trainings resume from ``last.ckpt`` in ``generate.train.state_dir/<name>/`` when the
params that shape the model and the data are unchanged (fingerprint), in the same MLflow run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline import cli
from pipeline.config import LM_NAMES, Params, ParamsError, load_params
from pipeline.data.jsonl import DataError, read_json, write_json
from pipeline.data.split import read_split
from pipeline.tracking import flat_params, provenance, provenance_tags, setup_mlflow, tracking_uri

log = logging.getLogger("train_lm")
MONITOR = "val/loss"
RESUME_FREE = {"max_epochs", "patience", "resume", "state_dir", "accelerator"}


def model_config(params: Params, name: str) -> dict[str, Any]:
    return getattr(params.generate, name).model_dump()


def fingerprint(params: Params, name: str, tokenizer_dir: Path | None) -> str:
    """Params that shape the model and its data, plus the bytes of the data and tokenizer files."""
    g = params.generate
    train = {k: v for k, v in g.train.model_dump().items() if k not in RESUME_FREE}
    h = hashlib.sha256(json.dumps([name, params.base.seed, train, model_config(params, name)], sort_keys=True).encode())
    processed = Path(params.base.processed_dir)
    files = [processed / n for n in ("classes.json", "train.jsonl", "val.jsonl")]
    if tokenizer_dir is not None:
        files += sorted(p for p in tokenizer_dir.iterdir() if p.is_file())
    for path in files:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


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


def train_lm(params: Params, name: str, callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Train ``name`` and save it to ``<models_dir>/lm/<name>/``; return the run record.
    ``callbacks``: extra Lightning callbacks (tests interrupt a training with one)."""
    if name not in LM_NAMES:
        raise ParamsError(f"unknown language model {name!r}; allowed: {', '.join(LM_NAMES)}")
    import lightning as L
    import torch
    from lightning.pytorch.loggers import MLFlowLogger
    from torch.utils.data import DataLoader

    from pipeline.generation.metrics import finite_or_none, perplexity
    from pipeline.generation.module import CurveRecorder, LMModule
    from pipeline.generation.packing import pack, stack, token_stream
    from pipeline.generation.store import save_lm
    from pipeline.training.trainer import checkpointed_trainer

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
    state_dir = Path(gt.state_dir) / name
    ckpt_dir = state_dir / "checkpoints"
    state_file = state_dir / "state.json"
    fp = fingerprint(params, name, shared_dir)
    resume_from: Path | None = None
    run_id: str | None = None
    if gt.resume and (ckpt_dir / "last.ckpt").is_file() and state_file.is_file():
        state = read_json(state_file)
        if state.get("fingerprint") == fp:
            resume_from, run_id = ckpt_dir / "last.ckpt", state.get("mlflow_run_id")
        else:
            log.info("%s: discarding the state of an interrupted training with other params or data", name)
    if resume_from is None:
        shutil.rmtree(state_dir, ignore_errors=True)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out_dir, ignore_errors=True)

    setup_mlflow(base)
    logger = MLFlowLogger(
        experiment_name=base.mlflow_experiment,
        run_name=f"train_lm-{name}",
        tracking_uri=tracking_uri(base),
        tags={**provenance_tags(base.seed), "lm": name, "stage": "train_lm"},
        run_id=run_id,
    )
    write_json(state_file, {"fingerprint": fp, "mlflow_run_id": logger.run_id})
    recorder = CurveRecorder()
    trainer, precision = checkpointed_trainer(
        gt,
        deterministic=base.deterministic,
        ckpt_dir=ckpt_dir,
        root_dir=state_dir,
        monitor=MONITOR,
        mode="min",
        logger=logger,
        recorder=recorder,
        callbacks=callbacks,
        precision=gt.precision,
    )
    if resume_from is None:
        logger.log_hyperparams(flat_params(params, ("base", "generate")))
    else:
        log.info("%s: resuming an interrupted training from %s", name, resume_from)
    train_loader = DataLoader(train_ds, batch_size=gt.batch_size, shuffle=True)
    val_loader = DataLoader(val_ds, batch_size=max(gt.batch_size, 32), shuffle=False)
    trainer.fit(module, train_loader, val_loader, ckpt_path=str(resume_from) if resume_from else None)
    device = str(trainer.strategy.root_device)

    best_state = torch.load(ckpt_dir / "best.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    module.load_state_dict(best_state)
    curve = recorder.curve
    best = min((r for r in curve if MONITOR in r), key=lambda r: r[MONITOR], default={})
    best_loss = float(best.get(MONITOR, float("nan")))
    record: dict[str, Any] = {
        "name": name,
        "kind": name,
        **provenance(base.seed),
        "params": flat_params(params, ("base", "generate")),
        "parameters": sum(p.numel() for p in module.net.parameters()),
        "tokenizer": g.gpt2.checkpoint if (name == "gpt2" and g.gpt2.checkpoint) else "shared",
        "vocab_size": codec.vocab_size,
        "block_size": gt.block_size,
        "train_stream_tokens": len(train_stream[0]),
        "train_blocks": len(train_ds),
        "val_predicted_tokens": int(sum(int((t != -100).sum()) for _, _, t in val_ds)),
        "device": device,
        "precision": precision,
        "train_time_s": round(recorder.batch_s, 2),
        "train_tokens": recorder.tokens,
        "train_tokens_per_s": round(recorder.tokens / recorder.batch_s, 1) if recorder.batch_s else None,
        "epochs_run": len(curve),
        "resumed_at_epoch": recorder.start_epoch if resume_from else None,
        "best_epoch": best.get("epoch"),
        "best_val_loss": round(best_loss, 6),
        "val_perplexity": finite_or_none(round(perplexity(best_loss), 4)),
        "mlflow_run_id": logger.run_id,
        "mlflow_experiment_id": logger.experiment_id,
        "curve": curve,
        "torch_threads": torch.get_num_threads(),
    }
    save_lm(module.net, name, config, codec, out_dir, trained_on="train", source=record["tokenizer"])
    write_json(out_dir / "run.json", record)
    shutil.rmtree(state_dir, ignore_errors=True)

    client = logger.experiment
    client.log_metric(logger.run_id, "best/val_loss", best_loss)
    client.log_metric(logger.run_id, "train_time_s", record["train_time_s"])
    if record["train_tokens_per_s"]:
        client.log_metric(logger.run_id, "train_tokens_per_s", record["train_tokens_per_s"])
    client.log_param(logger.run_id, "parameters", record["parameters"])
    client.log_artifact(logger.run_id, str(out_dir / "run.json"))
    log.info(
        "%s: best val loss %.4f (perplexity %s) at epoch %s of %d, %d parameters, %s tokens/s",
        name,
        best_loss,
        record["val_perplexity"],
        record["best_epoch"],
        record["epochs_run"],
        record["parameters"],
        record["train_tokens_per_s"],
    )
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help=f"one of: {', '.join(LM_NAMES)}")
    args = parser.parse_args()
    train_lm(load_params(), args.name)


if __name__ == "__main__":
    cli.run(main)
