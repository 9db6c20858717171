"""Lightning data and model modules shared by training, evaluation and tuning."""
