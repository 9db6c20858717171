"""Arabic text processing: normalisation, tokenisation, stopwords, stemming, vocabulary."""
