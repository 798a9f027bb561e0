"""Keeps validation and test text away from the teacher.

The guard holds held-out texts in normalised form and answers two questions without handing
the texts out: is this text a copy (exact or near) of held-out text, and does this prompt
contain any. The loop checks every prompt before it is sent.

The index holds no strings, only 64-bit hashes in numpy arrays: a word's value is Python's
``hash`` of it, an n-gram's hash mixes its words' values and its length, computed for a whole
batch of texts at once. Near copies are found through an inverted index (the distinct 3-gram
hashes of every text, sorted, each with its text's id), prompt passages through the sorted
8-gram hashes. Decisions are those of comparing the word tuples themselves unless two different
n-grams share a hash; one n-gram of a query meets a wrong key with probability about
(index size) / 2**64, below 1e-12 for imdb's 25,000 test texts. ``hash`` of a string is salted
per process, which is fine: the index lives and dies in one process and is never written out.
``benchmarks/guard_speed.py`` compares it with the string-tuple index it replaced.
"""

from __future__ import annotations

import re
import unicodedata
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

import numpy as np
import numpy.typing as npt

from pgkd.errors import LeakageError

_WORD = re.compile(r"\w+", re.UNICODE)
#: Word n-gram length used to find held-out passages inside a prompt.
PROMPT_NGRAM = 8
#: Shingle length for near-copy detection of a generated sample.
SHINGLE = 3
#: Held-out texts of this many words (up to ``PROMPT_NGRAM - 1``) are looked for whole.
SHORT_PASSAGE = 4
#: Held-out texts indexed per numpy batch: bounds the build's temporary arrays.
BATCH = 4096

Hashes = npt.NDArray[np.uint64]
TextIds = npt.NDArray[np.int32]
_U64 = np.uint64
_MULTIPLIER = _U64(0x100000001B3)


def normalize(text: str) -> str:
    return " ".join(_words(text))


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def _values(words: Iterable[str]) -> Hashes:
    return np.frombuffer(array("q", map(hash, words)), dtype=np.int64).astype(np.uint64)


def _mix(x: Hashes) -> Hashes:
    """splitmix64's finaliser, element-wise (numpy wraps uint64 arithmetic modulo 2**64)."""
    x = x ^ (x >> _U64(30))
    x *= _U64(0xBF58476D1CE4E5B9)
    x ^= x >> _U64(27)
    x *= _U64(0x94D049BB133111EB)
    x ^= x >> _U64(31)
    return x


def gram_hashes(values: Hashes, n: int) -> Hashes:
    """The hash of every run of ``n`` consecutive word values, in order of position; the
    length is mixed in, so runs of different lengths do not share hashes by construction."""
    count = len(values) - n + 1
    if count <= 0 or n <= 0:
        return np.empty(0, dtype=np.uint64)
    h = np.full(count, n, dtype=np.uint64)
    for k in range(n):
        h *= _MULTIPLIER
        h += values[k : k + count]
    return _mix(h)


class HeldOutGuard:
    def __init__(self, texts: Iterable[str], *, near_copy_threshold: float = 0.8) -> None:
        self.threshold = near_copy_threshold
        self._exact: set[int] = set()  # hash of each distinct normalised text
        parts = [self._index_batch(batch) for batch in _batches(texts, BATCH)] or [_Batch.empty()]
        #: Number of distinct shingles of each indexed text, by text id.
        self._sizes = np.concatenate([p.sizes for p in parts])
        short = {key: n for p in parts for key, n in p.short.items()}
        self._short_keys = _sorted_unique(np.fromiter(short, dtype=np.uint64, count=len(short)))
        self._short_lengths = sorted(set(short.values()))
        # Concatenate and sort one kind of key at a time, dropping the batches' copies as we go.
        self._prompt_keys = _sorted_unique(_take(parts, "prompt_keys"))
        keys = _take(parts, "shingle_keys")
        order = np.argsort(keys)
        #: Distinct (3-gram hash, text id) pairs sorted by hash: the near-copy index.
        self._shingle_keys: Hashes = keys[order]
        del keys
        self._shingle_owners: TextIds = _take(parts, "shingle_owners")[order]

    def _index_batch(self, texts: Sequence[str]) -> _Batch:
        """Index the texts not seen before (after normalisation); ids go on from ``len(self)``."""
        first_id = len(self._exact)
        hashes: array[int] = array("q")
        lengths: list[int] = []
        for text in texts:
            words = _words(text)
            key = hash(" ".join(words))
            if not words or key in self._exact:
                continue
            self._exact.add(key)
            hashes.extend(map(hash, words))
            lengths.append(len(words))
        values = np.frombuffer(hashes, dtype=np.int64).astype(np.uint64)
        return _Batch.build(values, lengths, first_id)

    def __len__(self) -> int:
        return len(self._exact)

    def copy_kind(self, text: str) -> str | None:
        """``"exact"`` or ``"near"`` when ``text`` copies held-out text, else None."""
        words = _words(text)
        if not words:
            return None
        if hash(" ".join(words)) in self._exact:
            return "exact"
        shingles = _sorted_unique(gram_hashes(_values(words), min(SHINGLE, len(words))))
        lo = np.searchsorted(self._shingle_keys, shingles, side="left")
        runs = np.searchsorted(self._shingle_keys, shingles, side="right") - lo
        total = int(runs.sum())
        if not total:
            return None
        # The index positions lo[i] .. lo[i] + runs[i] - 1 of every shingle, end to end.
        at = np.repeat(lo - (np.cumsum(runs) - runs), runs) + np.arange(total)
        shared_by_text = np.bincount(self._shingle_owners[at])
        owners = np.flatnonzero(shared_by_text)
        shared = shared_by_text[owners]
        union = len(shingles) + self._sizes[owners] - shared
        return "near" if bool((shared / union >= self.threshold).any()) else None

    def leaks(self, text: str) -> bool:
        """True when ``text`` contains a held-out passage (a whole short held-out text, or any
        run of eight words from a longer one)."""
        values = _values(_words(text))
        if _contains(self._prompt_keys, gram_hashes(values, PROMPT_NGRAM)):
            return True
        return any(_contains(self._short_keys, gram_hashes(values, n)) for n in self._short_lengths)

    def check_prompt(self, prompt_text: str) -> None:
        """Raise :class:`LeakageError` if the prompt contains a held-out passage."""
        if self.leaks(prompt_text):
            raise LeakageError(
                "a prompt contains validation/test text and was not sent; "
                "a plugin put held-out text into the prompt: remove it"
            )


@dataclass
class _Batch:
    """The index entries of one batch of held-out texts."""

    shingle_keys: Hashes  # sorted
    shingle_owners: TextIds
    sizes: npt.NDArray[np.int64]
    prompt_keys: Hashes  # sorted, distinct
    short: dict[int, int]  # hash of a whole text of 4 to 7 words -> its word count

    @classmethod
    def empty(cls) -> _Batch:
        return cls(_concat([]), np.empty(0, np.int32), np.empty(0, np.int64), _concat([]), {})

    @classmethod
    def build(cls, values: Hashes, lengths: list[int], first_id: int) -> _Batch:
        """``values`` are the word values of the texts end to end, ``lengths`` their word
        counts; a text's id is ``first_id`` plus its place in the batch."""
        counts = np.asarray(lengths, dtype=np.int64)
        ends = np.cumsum(counts)
        owner = np.repeat(np.arange(first_id, first_id + len(counts), dtype=np.int32), counts)
        # Words left in the text from each position on: an n-gram starting there fits if >= n.
        left = np.repeat(ends, counts) - np.arange(len(values))
        grams = gram_hashes(values, SHINGLE)
        fits = left[: len(grams)] >= SHINGLE
        keys, owners = _distinct_pairs(grams[fits], owner[: len(grams)][fits])
        sizes = np.bincount(owners - first_id, minlength=len(counts))
        short: dict[int, int] = {}
        whole_keys, whole_owners = [], []
        for text, (end, length) in enumerate(zip(ends.tolist(), lengths, strict=True)):
            if length < SHINGLE or SHORT_PASSAGE <= length < PROMPT_NGRAM:
                whole = int(gram_hashes(values[end - length : end], length)[0])
                if length < SHINGLE:  # the whole text is its one shingle
                    whole_keys.append(whole)
                    whole_owners.append(first_id + text)
                    sizes[text] = 1
                else:
                    short[whole] = length
        if whole_keys:
            keys = np.append(keys, np.asarray(whole_keys, dtype=np.uint64))
            owners = np.append(owners, np.asarray(whole_owners, dtype=np.int32))
            order = np.argsort(keys)
            keys, owners = keys[order], owners[order]
        eights = gram_hashes(values, PROMPT_NGRAM)
        prompt = _sorted_unique(eights[left[: len(eights)] >= PROMPT_NGRAM])
        return cls(keys, owners, sizes, prompt, short)


def _concat(arrays: list[Hashes]) -> Hashes:
    return np.concatenate(arrays) if arrays else np.empty(0, dtype=np.uint64)


def _take(parts: list[_Batch], field: str) -> Any:
    """One field of every batch end to end; the batches let go of theirs."""
    whole = np.concatenate([getattr(part, field) for part in parts])
    for part in parts:
        setattr(part, field, np.empty(0, dtype=whole.dtype))
    return whole


def _sorted_unique(keys: Hashes) -> Hashes:
    """Sorted distinct keys, sorting ``keys`` in place (``np.unique`` hashes uint64 keys far
    more slowly)."""
    keys.sort()
    keep = np.ones(len(keys), dtype=bool)
    np.not_equal(keys[1:], keys[:-1], out=keep[1:])
    return keys[keep]


def _contains(sorted_keys: Hashes, queries: Hashes) -> bool:
    """True when any of ``queries`` is in ``sorted_keys`` (sorted ascending)."""
    if not len(sorted_keys) or not len(queries):
        return False
    at = np.searchsorted(sorted_keys, queries).clip(max=len(sorted_keys) - 1)
    return bool((sorted_keys[at] == queries).any())


def _distinct_pairs(keys: Hashes, owners: TextIds) -> tuple[Hashes, TextIds]:
    """The distinct (key, owner) pairs, sorted by key. Pairs are told apart by one hash of
    both (unstable sorts of uint64 are several times faster than a stable or lexical sort)."""
    pairs = keys ^ _mix(owners.astype(np.uint64))
    order = np.argsort(pairs)
    first = np.ones(len(order), dtype=bool)
    np.not_equal(pairs[order[1:]], pairs[order[:-1]], out=first[1:])
    keep = order[first]
    keys, owners = keys[keep], owners[keep]
    order = np.argsort(keys)
    return keys[order], owners[order]


def _batches(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(texts)
    while batch := list(islice(iterator, size)):
        yield batch
