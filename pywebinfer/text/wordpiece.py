"""BERT's WordPiece tokenizer: text -> input_ids, attention_mask, token_type_ids.

It gives the ids of the `transformers` fast BERT tokenizer (BertNormalizer,
BertPreTokenizer, WordPiece, the "[CLS] A [SEP] B [SEP]" template, longest-first
truncation) for a BERT vocabulary file such as all-MiniLM-L6-v2's `vocab.txt`:

1. Special tokens written literally in the text ("[MASK]") stay whole (case-sensitive).
2. Normalize: drop NUL, U+FFFD and control characters, turn whitespace into spaces, put
   spaces around CJK ideographs, strip accents (NFD, drop nonspacing marks), lowercase.
3. Split on whitespace; every punctuation character is a word of its own.
4. WordPiece: a word becomes its longest prefix in the vocabulary, then the longest
   "##"-prefixed continuation, and so on; a word that cannot be covered that way, or is
   longer than 100 characters, becomes [UNK].

Pure Python and numpy, so it runs in Pyodide.
"""
from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Sequence

import numpy as np

# CJK Unified Ideographs and their extensions and compatibility blocks; Hiragana,
# Katakana and Hangul are not among them (BERT leaves those to whitespace splitting).
_CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)
PADDING_MODES = ("longest", "max_length", "do_not_pad")


def _is_cjk(code_point: int) -> bool:
    return any(low <= code_point <= high for low, high in _CJK_RANGES)


def _is_punctuation(char: str) -> bool:
    # every non-alphanumeric printable ASCII character counts ("$", "^", "`" are not
    # Unicode punctuation), and every Unicode P* character
    code_point = ord(char)
    return (33 <= code_point <= 47 or 58 <= code_point <= 64 or 91 <= code_point <= 96
            or 123 <= code_point <= 126 or unicodedata.category(char).startswith("P"))


def _is_dropped(char: str) -> bool:
    """NUL, the replacement character and control/format characters other than tab and
    newlines (which count as whitespace)."""
    if char in "\t\n\r":
        return False
    return char in "\x00\ufffd" or unicodedata.category(char).startswith("C")


class WordPieceTokenizer:
    """A BERT tokenizer over a vocabulary given in id order (the lines of `vocab.txt`).

        tokenizer = WordPieceTokenizer.from_file("minilm_vocab.txt")
        feeds = tokenizer(["A man is eating food.", "A monkey is playing drums."])
        # {"input_ids": int64 [2, n], "attention_mask": ..., "token_type_ids": ...}

    `lowercase` and `strip_accents` follow BERT's "uncased" models; `strip_accents=None`
    means "as lowercase".  `max_length` is the model's limit, used when a call gives none.
    """

    def __init__(self, vocab: Iterable[str], *, lowercase: bool = True,
                 strip_accents: bool | None = None, tokenize_cjk: bool = True,
                 unk_token: str = "[UNK]", cls_token: str = "[CLS]", sep_token: str = "[SEP]",
                 pad_token: str = "[PAD]", mask_token: str = "[MASK]", max_length: int = 512,
                 max_word_chars: int = 100, continuation_prefix: str = "##"):
        self.id_to_token = list(vocab)
        self.vocab: dict[str, int] = {}
        for index, token in enumerate(self.id_to_token):
            if token in self.vocab:
                raise ValueError(f"WordPieceTokenizer: token {token!r} appears twice in the "
                                 f"vocabulary (ids {self.vocab[token]} and {index})")
            self.vocab[token] = index
        specials = {"unk_token": unk_token, "cls_token": cls_token, "sep_token": sep_token,
                    "pad_token": pad_token, "mask_token": mask_token}
        for role, token in specials.items():
            if token not in self.vocab:
                raise ValueError(f"WordPieceTokenizer: {role} {token!r} is not in the "
                                 f"vocabulary of {len(self.vocab)} tokens")
        if max_length < 3:
            raise ValueError(f"WordPieceTokenizer: max_length must leave room for [CLS] and "
                             f"[SEP] and a token, got {max_length}")
        self.lowercase = lowercase
        self.strip_accents = lowercase if strip_accents is None else strip_accents
        self.tokenize_cjk = tokenize_cjk
        self.unk_token, self.cls_token, self.sep_token = unk_token, cls_token, sep_token
        self.pad_token, self.mask_token = pad_token, mask_token
        self.max_length = max_length
        self.max_word_chars = max_word_chars
        self.continuation_prefix = continuation_prefix
        longest_first = sorted(set(specials.values()), key=len, reverse=True)
        self._special_pattern = re.compile("(" + "|".join(map(re.escape, longest_first)) + ")")
        self._special_tokens = set(specials.values())

    @classmethod
    def from_file(cls, path: str | os.PathLike, **options) -> "WordPieceTokenizer":
        """Read a vocabulary file: one token a line, line number = token id."""
        with open(path, encoding="utf-8", newline="") as f:
            return cls.from_text(f.read(), **options)

    @classmethod
    def from_text(cls, text: str, **options) -> "WordPieceTokenizer":
        """A vocabulary file's contents (e.g. fetched in the browser)."""
        # only "\n" ends a line: str.splitlines() would also split on characters that a
        # vocabulary may hold
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return cls((line.removesuffix("\r") for line in lines), **options)

    @property
    def vocab_size(self) -> int:
        return len(self.id_to_token)

    # ---- text -> tokens ---------------------------------------------------------------

    def normalize(self, text: str) -> str:
        kept = []
        for char in text:
            if _is_dropped(char):
                continue
            if char.isspace():
                kept.append(" ")
            elif self.tokenize_cjk and _is_cjk(ord(char)):
                kept.extend((" ", char, " "))
            else:
                kept.append(char)
        text = "".join(kept)
        if self.strip_accents:
            text = "".join(c for c in unicodedata.normalize("NFD", text)
                           if unicodedata.category(c) != "Mn")
        if self.lowercase:
            # character by character: str.lower() would apply Greek final-sigma rules
            text = "".join(c.lower() for c in text)
        return text

    @staticmethod
    def split_words(text: str) -> list[str]:
        """Whitespace-separated words, with every punctuation character split off."""
        words = []
        for chunk in text.split():
            start = 0
            for i, char in enumerate(chunk):
                if _is_punctuation(char):
                    if start < i:
                        words.append(chunk[start:i])
                    words.append(char)
                    start = i + 1
            if start < len(chunk):
                words.append(chunk[start:])
        return words

    def wordpiece(self, word: str) -> list[str]:
        """Greedy longest-match-first pieces of one word, or [UNK]."""
        if len(word) > self.max_word_chars:
            return [self.unk_token]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else self.continuation_prefix + word[start:end]
                if piece in self.vocab:
                    break
                end -= 1
            else:
                return [self.unk_token]
            pieces.append(piece)
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        """The tokens of `text`, without [CLS] and [SEP]."""
        if not isinstance(text, str):
            raise ValueError(f"WordPieceTokenizer: expected a str, got {type(text).__name__}")
        tokens = []
        for part in self._special_pattern.split(text):
            if part in self._special_tokens:
                tokens.append(part)
                continue
            for word in self.split_words(self.normalize(part)):
                tokens.extend(self.wordpiece(word))
        return tokens

    def convert_tokens_to_ids(self, tokens: Sequence[str]) -> list[int]:
        unk = self.vocab[self.unk_token]
        return [self.vocab.get(token, unk) for token in tokens]

    def convert_ids_to_tokens(self, ids: Iterable[int]) -> list[str]:
        return [self.id_to_token[int(i)] for i in ids]

    # ---- tokens -> model inputs ---------------------------------------------------------

    def encode(self, text: str, pair: str | None = None, *, truncation: bool = True,
               max_length: int | None = None) -> tuple[list[int], list[int]]:
        """input_ids and token_type_ids of "[CLS] text [SEP]" or "[CLS] text [SEP] pair [SEP]".

        With truncation the result has at most max_length ids: tokens are cut from the end
        of the longer of text and pair first (longest-first)."""
        first = self.convert_tokens_to_ids(self.tokenize(text))
        second = None if pair is None else self.convert_tokens_to_ids(self.tokenize(pair))
        if truncation:
            limit = self.max_length if max_length is None else max_length
            budget = limit - (2 if second is None else 3)
            if budget < 0:
                raise ValueError(f"WordPieceTokenizer: max_length {limit} leaves no room for "
                                 f"the special tokens")
            if second is None:
                first = first[:budget]
            else:
                first, second = _truncate_longest_first(first, second, budget)
        cls, sep = self.vocab[self.cls_token], self.vocab[self.sep_token]
        ids = [cls, *first, sep]
        types = [0] * len(ids)
        if second is not None:
            ids += [*second, sep]
            types += [1] * (len(second) + 1)
        return ids, types

    def __call__(self, texts: str | Sequence[str], pairs: str | Sequence[str] | None = None, *,
                 padding: bool | str = "longest", truncation: bool = True,
                 max_length: int | None = None) -> dict[str, np.ndarray]:
        """Model inputs for a batch: int64 arrays [batch, sequence] named as BERT's inputs.

        padding: "longest" (or True) pads to the longest sequence of the batch,
        "max_length" to max_length (the model's limit when not given), "do_not_pad" (or
        False) requires equal lengths.  Padding is [PAD] with attention_mask 0."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if pairs is not None:
            pairs = [pairs] if isinstance(pairs, str) else list(pairs)
            if len(pairs) != len(texts):
                raise ValueError(f"WordPieceTokenizer: {len(texts)} texts but {len(pairs)} pairs")
        if not texts:
            raise ValueError("WordPieceTokenizer: no texts to encode")
        mode = {True: "longest", False: "do_not_pad"}.get(padding, padding)
        if mode not in PADDING_MODES:
            raise ValueError(f"WordPieceTokenizer: padding must be one of {PADDING_MODES} or a "
                             f"bool, got {padding!r}")
        encoded = [self.encode(text, None if pairs is None else pairs[i],
                               truncation=truncation, max_length=max_length)
                   for i, text in enumerate(texts)]
        lengths = [len(ids) for ids, _ in encoded]
        if mode == "max_length":
            width = self.max_length if max_length is None else max_length
            if max(lengths) > width:
                raise ValueError(f"WordPieceTokenizer: a sequence of {max(lengths)} tokens does "
                                 f"not fit padding to max_length {width} (truncation is off)")
        elif mode == "do_not_pad" and len(set(lengths)) > 1:
            raise ValueError(f"WordPieceTokenizer: sequences of different lengths {lengths} "
                             "need padding to make one array")
        else:
            width = max(lengths)
        input_ids = np.full((len(texts), width), self.vocab[self.pad_token], dtype=np.int64)
        attention_mask = np.zeros((len(texts), width), dtype=np.int64)
        token_type_ids = np.zeros((len(texts), width), dtype=np.int64)
        for row, (ids, types) in enumerate(encoded):
            input_ids[row, :len(ids)] = ids
            attention_mask[row, :len(ids)] = 1
            token_type_ids[row, :len(ids)] = types
        return {"input_ids": input_ids, "attention_mask": attention_mask,
                "token_type_ids": token_type_ids}


def _truncate_longest_first(first: list[int], second: list[int],
                            budget: int) -> tuple[list[int], list[int]]:
    """Cut a pair to `budget` tokens in all: the shorter sequence stays whole when it
    takes at most half; otherwise each gets half, the longer one (the second on a tie)
    the odd token."""
    if len(first) + len(second) <= budget:
        return first, second
    first_is_longer = len(first) > len(second)
    shorter = len(second) if first_is_longer else len(first)
    if shorter <= budget - shorter:
        keep_shorter, keep_longer = shorter, budget - shorter
    else:
        keep_shorter, keep_longer = budget // 2, budget - budget // 2
    if first_is_longer:
        return first[:keep_longer], second[:keep_shorter]
    return first[:keep_shorter], second[:keep_longer]
