"""Prediction and attention-based explanations with a fine-tuned Hugging Face classifier folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.pretrained.text import model_text

Row = dict[str, Any]


def merge_wordpieces(tokens: list[str], scores: list[float]) -> tuple[list[str], list[float]]:
    """Glue ``##`` continuation pieces to the word before them, summing their scores."""
    words: list[str] = []
    totals: list[float] = []
    for tok, score in zip(tokens, scores, strict=True):
        if tok.startswith("##") and words:
            words[-1] += tok[2:]
            totals[-1] += score
        else:
            words.append(tok)
            totals.append(score)
    return words, totals


class PretrainedPredictor:
    """``predict_proba(rows)`` from the rows' raw ``text``; ``explain(row)`` by last-layer [CLS] attention."""

    def __init__(
        self,
        arch: str,
        model: Any,
        tokenizer: Any,
        normalize: dict[str, Any] | None,
        max_length: int,
        batch_size: int = 64,
    ) -> None:
        self.arch, self.model, self.tokenizer = arch, model.eval(), tokenizer
        self.text = model_text(normalize)
        self.max_length, self.batch_size = max_length, batch_size

    @classmethod
    def from_folder(
        cls, arch: str, folder: Path, normalize: dict[str, Any] | None, max_length: int
    ) -> PretrainedPredictor:
        from pipeline.pretrained.hub import load_classifier, load_tokenizer

        tokenizer = load_tokenizer(str(folder))
        model = load_classifier(str(folder), _labels(folder))
        return cls(arch, model, tokenizer, normalize, max_length)

    def _encode(self, rows: Sequence[Row]) -> dict[str, Any]:
        return self.tokenizer(
            [self.text(r["text"]) for r in rows],
            truncation=True,
            max_length=self.max_length,
            padding=True,
            return_tensors="pt",
        )

    def predict_proba(self, rows: Sequence[Row]) -> list[list[float]]:
        import torch

        out: list[list[float]] = []
        with torch.inference_mode():
            for i in range(0, len(rows), self.batch_size):
                batch = self._encode(rows[i : i + self.batch_size])
                out.extend(torch.softmax(self.model(**batch).logits.float(), dim=-1).tolist())
        return out

    def explain(self, row: Row) -> dict[str, Any]:
        """Wordpieces merged into words, each scored by the last layer's attention from [CLS] (averaged
        over heads; the special tokens left out), and the predicted class."""
        import torch

        previous = self.model.config._attn_implementation
        self.model.set_attn_implementation("eager")  # fused attention kernels return no weights
        try:
            with torch.inference_mode():
                batch = self._encode([row])
                out = self.model(**batch, output_attentions=True)
        finally:
            self.model.set_attn_implementation(previous)
        attention = out.attentions[-1][0].float().mean(dim=0)[0]  # heads averaged, the [CLS] query row
        ids = batch["input_ids"][0].tolist()
        special = set(self.tokenizer.all_special_ids)
        keep = [i for i, t in enumerate(ids) if t not in special]
        tokens = self.tokenizer.convert_ids_to_tokens([ids[i] for i in keep])
        words, scores = merge_wordpieces(tokens, [float(attention[i]) for i in keep])
        return {
            "tokens": words,
            "scores": [round(s, 6) for s in scores],
            "method": "attention",
            "predicted": int(out.logits[0].argmax()),
        }


def _labels(folder: Path) -> list[str]:
    """Class names from the saved config (``id2label``), in id order."""
    from pipeline.data.jsonl import read_json

    id2label = read_json(folder / "config.json").get("id2label") or {}
    return [id2label[k] for k in sorted(id2label, key=int)]
