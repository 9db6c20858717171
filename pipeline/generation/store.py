"""A trained language model on disk, and loading it back for evaluation and generation.

``<models_dir>/lm/<name>/`` holds ``tokenizer/`` (the model's tokenizer and ``lm_meta.json``),
``lm_config.json`` (``kind``, ``config``, ``vocab_size``, ``num_classes``, ``special_ids``), the weights
(``model.pt`` for the recurrent LM; for GPT-2 ``hf/`` saved with ``save_pretrained`` and
``class_embedding.pt``) and ``run.json``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pipeline.data.integrity import atomic_path
from pipeline.data.jsonl import DataError, read_json, write_json
from pipeline.generation.networks import token_loss
from pipeline.generation.packing import pack, token_stream
from pipeline.generation.tokenizer import Codec, load_tokenizer, save_tokenizer

CONFIG_FILE = "lm_config.json"


def save_tensors(state: dict[str, Any], path: Path) -> None:
    """``torch.save`` of ``state`` into ``path`` atomically, the same bytes for the same tensors: serialised in
    memory first, since the archive inside the file is named after the file written (a temporary name)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(buffer.getvalue())


def save_lm(net: nn.Module, kind: str, config: dict[str, Any], codec: Codec, folder: Path, **meta: Any) -> None:
    """Weights, tokenizer and config of a trained LM into ``folder`` (created)."""
    from pipeline.generation.networks import GPT2LM

    folder.mkdir(parents=True, exist_ok=True)
    net = net.to("cpu")
    if isinstance(net, GPT2LM):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        net.model.save_pretrained(str(folder / "hf"))
        save_tensors(net.cls.state_dict(), folder / "class_embedding.pt")
    else:
        save_tensors(net.state_dict(), folder / "model.pt")  # loaded with weights_only=True: tensors only
    save_tokenizer(codec.tokenizer, folder / "tokenizer", codec.labels, **meta)
    write_json(
        folder / CONFIG_FILE,
        {
            "kind": kind,
            "config": config,
            "vocab_size": codec.vocab_size,
            "num_classes": len(codec.labels),
            "special_ids": {"bos_token_id": codec.bos_id, "eos_token_id": codec.eos_id},
        },
    )


@dataclass
class LoadedLM:
    """A trained LM, on the CPU, in eval mode, with its tokenizer."""

    name: str
    kind: str
    net: nn.Module
    codec: Codec
    folder: Path

    @property
    def max_positions(self) -> int | None:
        return getattr(self.net, "max_positions", None)

    @torch.inference_mode()
    def mean_loss(self, rows: Sequence[dict[str, Any]], block_size: int, batch_size: int = 32) -> tuple[float, int]:
        """Mean cross-entropy per predicted token over ``rows`` (all their tokens, packed like training;
        the final partial block included), and the number of predicted tokens."""
        blocks = pack(*token_stream(self.codec, rows), block_size, keep_remainder=True)
        total, count = 0.0, 0
        full = [b for b in blocks if len(b[0]) == block_size]
        groups = [full[i : i + batch_size] for i in range(0, len(full), batch_size)]
        groups += [[b] for b in blocks if len(b[0]) != block_size]
        for group in groups:
            inputs, classes, targets = (torch.stack([b[k] for b in group]) for k in range(3))
            s, c = token_loss(self.net(inputs, classes), targets)
            total += float(s)
            count += c
        return (total / count if count else float("nan")), count


def load_lm(folder: str | Path) -> LoadedLM:
    """The LM saved by :func:`save_lm` in ``folder``."""
    from pipeline.generation.networks import GPT2LM, build_network

    folder = Path(folder)
    if not (folder / CONFIG_FILE).is_file():
        raise DataError(f"{folder / CONFIG_FILE}: no trained language model here (run `dvc repro train_lm` first)")
    spec = read_json(folder / CONFIG_FILE)
    tokenizer, meta = load_tokenizer(folder / "tokenizer")
    codec = Codec(tokenizer, meta["labels"])
    if spec["kind"] == "gpt2":
        from transformers import AutoModelForCausalLM
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        net: nn.Module = GPT2LM(AutoModelForCausalLM.from_pretrained(str(folder / "hf")), spec["num_classes"])
        net.cls.load_state_dict(torch.load(folder / "class_embedding.pt", map_location="cpu", weights_only=True))
    else:
        net = build_network(spec["kind"], spec["vocab_size"], spec["config"], spec["special_ids"], spec["num_classes"])
        net.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
    return LoadedLM(folder.name, spec["kind"], net.eval(), codec, folder)
