"""Arabic language models and text generation (issue 5).

``text`` (light normalisation), ``tokenizer`` (byte-level BPE on the train split, class tokens),
``packing`` (documents → fixed blocks), ``networks`` (LSTM/GRU LM, GPT-2), ``module`` (Lightning),
``store`` (save/load a trained LM), ``sampling`` (greedy, temperature, top-k, top-p, repetition
penalty), ``prompts`` (prompt checks), ``metrics`` (perplexity, BLEU/chrF, distinct-n), ``training`` (train one
LM), ``complete`` (continue a prompt), ``heldout`` (held-out evaluation, class agreement, samples), ``cli``
(the ``--prompt`` CLI), ``mlflow_log`` (the generate run).
The stages are ``pipeline.stages.lm_tokenizer``, ``pipeline.stages.train_lm`` and ``pipeline.stages.generate``.
"""
