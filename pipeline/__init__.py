"""Arabic text ML pipeline: scrape → preprocess → train → evaluate → report."""

from pipeline.runtime import set_wait_policy

set_wait_policy()  # before anything loads torch's OpenMP runtime (see pipeline/runtime.py)

__version__ = "0.1.0"
