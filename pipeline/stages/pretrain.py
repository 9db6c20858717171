"""Stage **pretrain**: a small BERT pre-trained with masked-language modelling on our own corpus.

``python -m pipeline pretrain`` reads ``base``, ``data``, ``preprocess.normalize``/``split`` and
``pretrain`` params. The corpus is every document of the data source, labelled or not (the scraped
``data/raw`` by default), plus the text files in ``pretrain.corpus_dir``, minus the test split's documents and their
(near-)duplicates (:mod:`pipeline.pretrained.corpus`). It trains a WordPiece tokenizer and a
``BertForMaskedLM`` (15% of wordpieces selected, 80/10/10) with Lightning, keeps the epoch with the
lowest validation MLM loss, and writes ``<pretrain.output_dir>/bert/``: a standard Hugging Face folder
(``config.json``, ``model.safetensors``, tokenizer files) that ``AutoModelForSequenceClassification``
and ``AutoTokenizer`` load, plus ``run.json`` and ``last.ckpt``. Logged to MLflow as run ``pretrain``
(per-epoch MLM loss and perplexity). An interrupted pretraining resumes from its last epoch.

When no architecture of ``finetune.architectures`` starts from this folder (none listed, or each
with its own ``finetune.checkpoints`` entry), the stage only writes ``<output_dir>/skipped.json``, so
a demo ``dvc repro`` without fine-tuning pays nothing; ``--always`` pretrains anyway.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from pipeline import cli
from pipeline.config import load_params
from pipeline.data.jsonl import write_json
from pipeline.pretrained.pretraining import needed, pretrain

log = logging.getLogger("pretrain")


def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--always", action="store_true", help="pretrain even if no fine-tuning uses the result")
    args = parser.parse_args()
    params = load_params()
    if args.always or needed(params):
        pretrain(params)
        return
    out = Path(params.pretrain.output_dir)
    shutil.rmtree(out, ignore_errors=True)
    reason = "no architecture of finetune.architectures starts from the pretrain stage's folder"
    write_json(out / "skipped.json", {"skipped": True, "reason": reason})
    log.info("pretrain: skipped (%s); `python -m pipeline pretrain --always` pretrains anyway", reason)


if __name__ == "__main__":
    cli.run(main)
