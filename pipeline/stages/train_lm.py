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

from pipeline import cli
from pipeline.config import LM_NAMES, load_params
from pipeline.generation.training import train_lm


def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("name", help=f"one of: {', '.join(LM_NAMES)}")
    args = parser.parse_args()
    train_lm(load_params(), args.name)


if __name__ == "__main__":
    cli.run(main)
