"""Loading checkpoints: a Hugging Face hub name (online) or a local folder, through the same calls.

Offline (``HF_HUB_OFFLINE=1``, or no network) a hub name fails; the error names the checkpoint and
says what to give instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from pipeline.config import Params, ParamsError
from pipeline.data.jsonl import DataError
from pipeline.models.registry import ARCHITECTURES, is_pretrained


def quiet() -> None:
    """No progress bars or load reports from transformers (they flood the stage logs)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def resolve_checkpoint(params: Params, arch: str) -> tuple[str, bool]:
    """``(checkpoint, ours)``: ``finetune.checkpoints.<arch>``, else the pretrain stage's folder (bert)."""
    if not is_pretrained(arch):
        allowed = ", ".join(sorted(a for a in ARCHITECTURES if is_pretrained(a)))
        raise ParamsError(f"{arch!r} is not a pretrained-transformer architecture; allowed: {allowed}")
    given = params.finetune.checkpoints.get(arch)
    if given:
        return given, False
    if not ARCHITECTURES[arch].option("offline_default", False):
        raise ParamsError(
            f"finetune.checkpoints.{arch}: no offline {arch} checkpoint is built by this pipeline; set it to a "
            "hub name (online) or a local folder"
        )
    folder = Path(params.pretrain.output_dir) / arch
    if not (folder / "config.json").is_file():
        raise DataError(
            f"{folder}: no pretrained {arch} here (run `dvc repro pretrain`, or `python -m pipeline pretrain "
            f"--always`), or set finetune.checkpoints.{arch} to a hub name or local folder"
        )
    return str(folder), True


def _fail(checkpoint: str, what: str, err: Exception) -> DataError:
    if Path(checkpoint).exists() or checkpoint.startswith((".", "/")):
        hint = "the folder needs config.json, the weights and the tokenizer files (pretrain stage output)"
    else:
        hint = "not a local folder; as a hub name it needs network access (HF_HUB_OFFLINE unset)"
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return DataError(f"checkpoint {checkpoint!r}: cannot load the {what} ({hint}): {first}")


def load_tokenizer(checkpoint: str) -> Any:
    from transformers import AutoTokenizer

    quiet()
    try:
        return AutoTokenizer.from_pretrained(checkpoint)
    except (OSError, ValueError, KeyError) as err:
        raise _fail(checkpoint, "tokenizer", err) from None


def load_classifier(checkpoint: str, labels: list[str]) -> Any:
    """``AutoModelForSequenceClassification`` with a head for ``labels`` (a new one where the checkpoint
    has none or one of another size)."""
    from transformers import AutoModelForSequenceClassification

    quiet()
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            checkpoint,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={lab: i for i, lab in enumerate(labels)},
            ignore_mismatched_sizes=True,
        )
    except (OSError, ValueError, KeyError) as err:
        raise _fail(checkpoint, "model", err) from None


class HubClassifier(nn.Module):
    """A Hugging Face sequence classifier as a network component: ``(input_ids, attention_mask)`` → logits."""

    def __init__(self, checkpoint: str, labels: list[str]) -> None:
        super().__init__()
        self.model = load_classifier(checkpoint, labels).train()  # from_pretrained returns it in eval mode

    def forward(self, input_ids: Any, attention_mask: Any) -> Any:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def local_files(checkpoint: str) -> tuple[Path, ...]:
    """The files of a local checkpoint folder (for fingerprints); none for a hub name."""
    folder = Path(checkpoint)
    return tuple(sorted(p for p in folder.rglob("*") if p.is_file())) if folder.is_dir() else ()
