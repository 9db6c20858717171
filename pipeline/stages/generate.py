"""Stage **generate** (samples, held-out evaluation, class agreement) and the generation CLI.

``python -m pipeline generate`` (or ``python -m pipeline generate`` without ``--prompt``) loads every
LM of ``generate.models`` from ``<models_dir>/lm/<name>/`` and writes:

- ``<reports_dir>/generation/metrics.json``::

    {"rows": [{"dataset", "model", "perplexity" (validation split), "test_perplexity", "val_loss",
               "bleu", "chrf" (sacrebleu, 0-100), "distinct_1", "distinct_2", "parameters", "tokenizer",
               "continuations"}],
     "class_agreement": {"model", "rate", "chance", "n", "classifier", "per_class": {label: rate},
                         "by_model": {name: {"rate", "n", "per_class"}}},
     "decoding": {...}, "settings": {...}}

  Perplexity is ``exp`` of the mean cross-entropy per predicted token (null if it overflows). BLEU and
  chrF compare, for ``generate.eval.continuation_docs`` test documents, the generation after the
  first ``prompt_words`` words (conditioned on the document's class) with the next ``reference_words``
  real words; distinct-n is over those generations. The agreement check generates
  ``agreement_per_class`` texts per class (conditioned on the class; from the class alone unless
  ``agreement_with_prompts``) and classifies them with the classifier of highest ``f1_macro`` in
  ``reports/metrics.json``; ``chance`` = 1 / classes.
- ``<reports_dir>/generation/samples.json``: a list of ``{"model", "topic", "prompt", "label" (or
  null), "decoding": {"name", greedy, temperature, top_k, top_p, repetition_penalty,
  max_new_tokens, seed}, "text" (prompt + continuation), "continuation"}``: every prompt of
  ``generate.prompts`` with every decoding unconditioned, and with each class label under the
  evaluation decoding.

- the run log of ``metrics.json`` (:mod:`pipeline.runlog`: ``.runs/reports/generation/metrics.json``): what
  changes from run to run, kept out of the files above: ``{<model>: {"train_tokens_per_s", "mlflow_run_id"}}``.

The same params and data give the same ``metrics.json`` and ``samples.json``, byte for byte: sampling is
seeded, and with ``base.deterministic`` the language models train, and this stage runs, on a fixed number of
threads (``generate.train.num_threads``, 1 when 0; :func:`pipeline.runtime.reproducible_threads`), since
CPU sums differ in their last bits between thread counts.

- ``<reports_dir>/generation/headline.json`` (DVC metrics, kept small for ``dvc metrics show``/``dvc exp
  show``): ``{<model>: {"perplexity", "bleu", "chrf", "distinct_2"}, "class_agreement": rate}``.

Everything is logged to an MLflow run ``generate`` (metrics ``<model>/perplexity`` …, both JSON files);
each LM's training run also gets its held-out metrics (``heldout/*``).

CLI: ``python -m pipeline generate --prompt "…" [--model gpt2] [--label positive] [--decoding sampled]
[--greedy] [--temperature T] [--top-k K] [--top-p P] [--repetition-penalty R] [--max-new-tokens N]
[--num N] [--seed S]``: prints the generated texts. An empty, non-Arabic or too long prompt, an
unknown label or a length above ``generate.max_new_tokens`` is refused with a one-line message.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline import cli, runlog
from pipeline.config import Params, ParamsError, load_params
from pipeline.data.jsonl import read_json, write_json
from pipeline.generation.cli import generate_cli
from pipeline.generation.complete import lm_dir
from pipeline.generation.heldout import (
    best_classifier,
    class_agreement,
    generation_metrics,
    headline,
    heldout_row,
    run_facts,
    samples,
    texts_to_generate,
)
from pipeline.generation.mlflow_log import log_to_mlflow
from pipeline.progress import progress
from pipeline.runtime import apply_thread_policy, reproducible_threads

log = logging.getLogger("generate")


def generate(params: Params) -> dict[str, Any]:
    """Run the stage; return the metrics written to ``generation/metrics.json``."""
    from pipeline.data.split import read_split
    from pipeline.generation.store import load_lm
    from pipeline.serving.predict import load_predictor

    base = params.base
    apply_thread_policy(reproducible_threads(params.generate.train.num_threads, base.deterministic))
    processed = Path(base.processed_dir)
    labels = read_json(processed / "classes.json")["labels"]
    val_rows, test_rows = read_split(processed / "val.jsonl"), read_split(processed / "test.jsonl")
    classifier = best_classifier(params)
    predictor = load_predictor(Path(base.models_dir) / classifier, processed)

    rows, all_samples, agreement, runs = [], [], {}, {}
    for name in params.generate.models:
        lm = load_lm(lm_dir(params, name))
        with progress(texts_to_generate(params, labels), f"generate {name}", "text") as bar:  # on a terminal
            row = heldout_row(lm, params, val_rows, test_rows, bar)
            all_samples += samples(lm, params, labels, bar)
            agreement[name] = class_agreement(lm, params, predictor, labels, bar)
        rows.append(row)
        runs[name] = run_facts(lm)
        log.info(
            "%s: val perplexity %s, BLEU %.2f, chrF %.2f, distinct-2 %.3f, class agreement %.2f",
            name,
            row["perplexity"],
            row["bleu"],
            row["chrf"],
            row["distinct_2"],
            agreement[name]["rate"],
        )
    result = generation_metrics(params, rows, agreement, labels, classifier)
    out = Path(base.reports_dir) / "generation"
    write_json(out / "metrics.json", result)
    write_json(out / "samples.json", all_samples)
    write_json(out / "headline.json", headline(result))
    runlog.write(out / "metrics.json", runs)
    log_to_mlflow(params, result, runs, out)
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pipeline generate",
        description="Without --prompt: run the generate stage. With --prompt: continue it with a trained LM.",
    )
    p.add_argument("--prompt", help="Arabic text to continue")
    p.add_argument("--model", help="lstm_lm or gpt2 (default: generate.default_model)")
    p.add_argument("--label", help="class to condition on, e.g. positive (default: none)")
    p.add_argument("--decoding", help="a name in generate.decodings (default: generate.eval.decoding)")
    p.add_argument("--greedy", action="store_true", help="most likely token at each step")
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-k", type=int)
    p.add_argument("--top-p", type=float)
    p.add_argument("--repetition-penalty", type=float)
    p.add_argument("--max-new-tokens", type=int, help="at most generate.max_new_tokens")
    p.add_argument("--num", type=int, default=1, help="how many texts (seeds seed, seed+1, …)")
    p.add_argument("--seed", type=int, help="sampling seed (default: base.seed)")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    params = load_params()
    if args.prompt is None:
        generate(params)
        return
    if args.num < 1:
        raise ParamsError(f"--num {args.num}: must be at least 1")
    for text in generate_cli(params, args):
        sys.stdout.write(text + "\n")


if __name__ == "__main__":
    cli.run(main)
