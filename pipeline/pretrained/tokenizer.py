"""A WordPiece tokenizer trained on our own corpus, saved as a standard BERT tokenizer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PREFIX = "##"
PRIVATE_USE = 0xF0000  # Supplementary Private Use Area-A: stand-ins for word-inner characters while training


def train_wordpiece(texts: Iterable[str], vocab_size: int, min_frequency: int, max_length: int) -> Any:
    """BERT-style WordPiece (``[CLS] … [SEP]``, ``##`` continuations) trained on ``texts``; returns a
    ``transformers`` fast tokenizer that ``save_pretrained`` writes and ``AutoTokenizer`` reloads.

    The same texts always give the same vocabulary and ids (see :func:`wordpiece_vocab`)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    # Arabic has no case; Latin is lowercased; marks are kept (the pipeline's normaliser decides on them).
    normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=True
    )
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words = (w for text in texts for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    tok = Tokenizer(models.WordPiece(wordpiece_vocab(words, vocab_size, min_frequency), unk_token="[UNK]"))
    tok.normalizer, tok.pre_tokenizer = normalizer, pre_tokenizer
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.WordPiece()
    return BertTokenizerFast(tokenizer_object=tok, model_max_length=max_length, do_lower_case=True)


def wordpiece_vocab(words: Iterable[str], vocab_size: int, min_frequency: int) -> dict[str, int]:
    """WordPiece's vocabulary (token → id, the specials first) learnt from pre-tokenized ``words``.

    ``tokenizers``' WordPieceTrainer numbers the ``##`` forms of characters in hash order, which changes from run
    to run, and breaks ties between equally frequent merges by those numbers: the same corpus gave other ids
    and, at the size cut-off, other tokens. So the same training (its BPE trainer, which WordPieceTrainer wraps)
    runs on words whose inner characters are private-use stand-ins: every symbol is then a plain character,
    which the trainer numbers in code-point order, and the learnt tokens map back to ``x`` / ``##x`` forms."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    words = list(words)
    inner = sorted({c for w in words for c in w[1:]})
    used = {c for w in words for c in w}
    codes = (chr(i) for i in range(PRIVATE_USE, 0xFFFFE) if chr(i) not in used)
    stand_in = dict(zip(inner, codes, strict=False))
    if len(stand_in) < len(inner):
        raise ValueError(f"{len(inner)} distinct word-inner characters: more than the private-use area holds")
    back = {v: k for k, v in stand_in.items()}
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIALS,
        initial_alphabet=sorted(used),  # every character alone too, as WordPieceTrainer's alphabet has it
        show_progress=False,
    )
    bpe.train_from_iterator((w[0] + "".join(stand_in[c] for c in w[1:]) for w in words), trainer)

    def original(token: str) -> str:
        if token in SPECIALS:
            return token
        text = "".join(back.get(c, c) for c in token)
        return PREFIX + text if token[0] in back else text

    learnt = sorted(bpe.get_vocab().items(), key=lambda kv: kv[1])
    return {original(token): i for i, (token, _) in enumerate(learnt)}
