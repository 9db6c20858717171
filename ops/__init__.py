"""Operations: the helpers behind `make retrain` and the workflows (not part of the pipeline)."""
