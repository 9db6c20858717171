"""``python -m pipeline <stage> [args]``: run one stage; ``check`` only validates params.yaml."""

from __future__ import annotations

import importlib
import sys

STAGES = ("scrape", "preprocess", "tune", "train", "pretrain", "finetune", "evaluate", "register", "report")
STAGES += ("lm_tokenizer", "train_lm", "generate")  # text generation (issue 5)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(f"usage: python -m pipeline {{{','.join(('check', *STAGES))}}} [args]")
        raise SystemExit(0 if len(sys.argv) >= 2 else 2)
    name, sys.argv = sys.argv[1], [f"pipeline {sys.argv[1]}", *sys.argv[2:]]
    from pipeline import cli

    if name == "check":
        from pipeline.config import load_params

        def check() -> None:
            load_params()
            print("params.yaml is valid")

        cli.run(check)
        return
    if name not in STAGES:
        print(f"unknown stage {name!r}; allowed: check, {', '.join(STAGES)}", file=sys.stderr)
        raise SystemExit(2)
    cli.run(importlib.import_module(f"pipeline.{name}").main)


if __name__ == "__main__":
    main()
