"""Stage **preprocess**: documents from the configured source → normalised, tokenised, labelled splits.

Reads ``base``, ``data`` and ``preprocess`` params; writes ``<processed_dir>/``:
``train.jsonl``/``val.jsonl``/``test.jsonl`` (one document per line with ``tokens``, ``label``
and ``group``), ``classes.json`` (the class map), ``vocab.json`` (train split only) and
``summary.json``; the same data-quality summary goes to ``<reports_dir>/data_summary.json``
and to an MLflow run named ``preprocess``.

The source is streamed twice: a first pass keeps only ids, labels and MinHash signatures
(to drop exact duplicates, group near-duplicates and assign splits), a second pass
processes the text in chunks (in ``num_workers`` processes) and writes each document
straight to its split. Memory holds no text beyond one chunk.
"""

from __future__ import annotations

from pipeline import cli
from pipeline.config import load_params
from pipeline.data.preprocessing import preprocess


def main() -> None:
    cli.parser(__doc__).parse_args()
    preprocess(load_params())


if __name__ == "__main__":
    cli.run(main)
