"""Arabic text ML pipeline: scrape → preprocess → train → evaluate → report."""

__version__ = "0.1.0"
