"""Stage **finetune@<arch>**: fine-tune a pretrained transformer for classification.

``python -m pipeline finetune <arch>`` (an architecture of family ``pretrained``: ``bert``, ``electra``)
reads ``base``, ``preprocess.normalize``, ``pretrain.output_dir`` and ``finetune`` params. It starts from
``finetune.checkpoints.<arch>`` (a hub name, online, or a local folder: the same
``from_pretrained`` calls) or, for ``bert``, from the pretrain stage's folder, so it runs offline. The
split rows' raw ``text`` is normalised (``preprocess.normalize``, unless ``finetune.normalize`` is off)
and tokenised by the checkpoint's own tokenizer. Training is the networks' recipe: AdamW with linear or
cosine decay after warmup, gradient clipping, early stopping on validation macro-F1, class weights,
mixed precision on a GPU, seeds, best and last checkpoints, resumable; then the prior correction chosen on
validation (``finetune.prior_correction``, :mod:`pipeline.training.prior`) added to the head's output bias.

Writes ``<models_dir>/<arch>/``: ``best/`` (the best epoch as a Hugging Face folder: model and
tokenizer), ``last.ckpt`` (Lightning, the final epoch) and ``run.json`` in the train stage's record
format; logged to MLflow as ``train-<arch>`` (so evaluate and report treat it like any classifier).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline import cli
from pipeline.config import Params, ParamsError, load_params
from pipeline.data.jsonl import read_json
from pipeline.models.registry import ARCHITECTURES, is_pretrained
from pipeline.tracking import flat_params, provenance
from pipeline.training.run_record import RunRecord


def validation_logits(predictor: Any, rows: Sequence[dict[str, Any]], batch_size: int = 64) -> Any:
    """The fine-tuned model's logits over ``rows`` (numpy), by the predictor's own encoding."""
    import numpy as np
    import torch

    parts = []
    with torch.inference_mode():
        for i in range(0, len(rows), batch_size):
            parts.append(predictor.model(**predictor._encode(rows[i : i + batch_size])).logits.float().numpy())
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


def add_to_head_bias(model: Any, offsets: Sequence[float]) -> None:
    """Add the prior correction's ``offsets`` to the output bias of the classification head: the last linear
    layer with one output per class (BERT's ``classifier``, ELECTRA's ``classifier.out_proj``)."""
    import torch

    heads = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == len(offsets)]
    with torch.no_grad():
        heads[-1].bias += torch.as_tensor(list(offsets), dtype=heads[-1].bias.dtype)


def finetune(params: Params, arch: str, callbacks: Sequence[Any] = ()) -> RunRecord | None:
    """Fine-tune ``arch``; write ``<models_dir>/<arch>/`` and return its run record (rank 0 of a distributed
    training; the other ranks return None)."""
    import lightning as L

    from pipeline.evaluation.latency import latency
    from pipeline.pretrained.data import SplitDataModule
    from pipeline.pretrained.hub import load_tokenizer, local_files, quiet, resolve_checkpoint
    from pipeline.pretrained.predictor import PretrainedPredictor
    from pipeline.pretrained.text import model_text
    from pipeline.training.distributed import is_rank_zero
    from pipeline.training.fit import CLASSIFIER_MONITOR, FitSpec, fit, resumable_settings
    from pipeline.training.module import ClassifierModule, balanced_class_weights
    from pipeline.training.prior import choose_offsets
    from pipeline.training.state import fingerprint, open_state

    if not is_pretrained(arch):
        allowed = ", ".join(sorted(a for a in ARCHITECTURES if is_pretrained(a)))
        raise ParamsError(f"finetune: {arch!r} is not a pretrained-transformer architecture; allowed: {allowed}")
    quiet()
    base, ft = params.base, params.finetune
    checkpoint, ours = resolve_checkpoint(params, arch)
    processed = Path(base.processed_dir)
    labels = read_json(processed / "classes.json")["labels"]
    normalize = params.preprocess.normalize.model_dump() if ft.normalize else None

    L.seed_everything(base.seed, workers=True)
    tokenizer = load_tokenizer(checkpoint)
    dm = SplitDataModule(
        base.processed_dir, tokenizer, model_text(normalize), ft.max_length, ft.batch_size, ft.num_workers
    )
    weights = balanced_class_weights(dm.split("train").labels, len(labels)) if ft.class_weights == "balanced" else None
    settings = {k: v for k, v in ft.model_dump().items() if k not in ("checkpoints", "architectures")}
    module = ClassifierModule(arch, 0, len(labels), settings, weights, checkpoint=checkpoint, labels=labels)

    out_dir = Path(base.models_dir) / arch
    writer = is_rank_zero(ft)
    if writer:
        shutil.rmtree(out_dir, ignore_errors=True)
    tunable = {k: v for k, v in resumable_settings(ft).items() if k != "checkpoints"}
    fp = fingerprint(
        arch,
        base.seed,
        base.deterministic,
        tunable,
        checkpoint,
        normalize,
        files=(*local_files(checkpoint), *(processed / n for n in ("classes.json", "train.jsonl", "val.jsonl"))),
    )
    sections = ("base", "preprocess", "pretrain", "finetune") if ours else ("base", "preprocess", "finetune")
    hyperparams = {**flat_params(params, sections), "finetune.checkpoint": checkpoint}
    spec = FitSpec(
        name=f"train-{arch}",
        stage="finetune",
        monitor=CLASSIFIER_MONITOR,
        tags={"arch": arch},
        hyperparams=hyperparams,
        state=open_state(Path(ft.state_dir) / arch, fp, ft.resume, arch, read_only=not writer),
        out_dir=out_dir,
    )
    result = fit(module, dm, ft, base, spec, callbacks=callbacks)
    if not result.rank_zero:
        return None

    best = ClassifierModule.load_from_checkpoint(result.best, map_location="cpu", weights_only=True).net.model
    predictor = PretrainedPredictor(arch, best, tokenizer, normalize, ft.max_length)  # sees the correction below
    correction = None
    if ft.prior_correction == "auto":
        val = dm.split("val")
        val_logits = validation_logits(predictor, val.rows)
        correction = choose_offsets(val_logits, val.labels, dm.split("train").labels, len(labels))
        if any(correction["offsets"]):
            add_to_head_bias(best, correction["offsets"])
    best_dir = out_dir / "best"
    best.save_pretrained(str(best_dir))
    tokenizer.save_pretrained(str(best_dir))
    result.best.unlink()  # best/ is the best epoch; last.ckpt stays for the record
    test_rows = dm.split("test").rows
    curve = result.recorder.curve
    best_row = max(curve, key=lambda r: r.get(CLASSIFIER_MONITOR, float("-inf"))) if curve else {}
    record = RunRecord(
        arch=arch,
        stage="finetune",
        family=ARCHITECTURES[arch].family,
        description=ARCHITECTURES[arch].description,
        **provenance(base.seed),
        params=hyperparams,
        pretrained_checkpoint=checkpoint,
        pretrained_here=ours,
        normalize=normalize,
        max_length=ft.max_length,
        **result.summary(best, best_row),
        # the saved model's: after the prior correction when one was added to its head
        best_val_f1_macro=correction["val_f1_macro"]
        if correction and any(correction["offsets"])
        else best_row.get(CLASSIFIER_MONITOR),
        train_samples=len(dm.split("train")),
        class_weights=weights,
        prior_correction=correction,
        latency_ms_per_doc=latency(predictor.predict_proba, test_rows),
        checkpoint=str(best_dir),
    )
    record.log_to_mlflow(result.client, [record.save(out_dir)])
    result.client.log_artifacts(result.run_id, str(best_dir), "best")
    return record


def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("arch", help=f"one of: {', '.join(sorted(a for a in ARCHITECTURES if is_pretrained(a)))}")
    args = parser.parse_args()
    finetune(load_params(), args.arch)


if __name__ == "__main__":
    cli.run(main)
