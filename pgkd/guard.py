"""Keeps validation and test text away from the teacher.

The guard holds held-out texts in normalised form and answers two questions without handing
the texts out: is this text a copy (exact or near) of held-out text, and does this prompt
contain any. The loop checks every prompt before it is sent.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable

from pgkd.errors import LeakageError

_WORD = re.compile(r"\w+", re.UNICODE)
#: Word n-gram length used to find held-out passages inside a prompt.
PROMPT_NGRAM = 8
#: Shingle length for near-copy detection of a generated sample.
SHINGLE = 3


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_WORD.findall(text))


def _ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


class HeldOutGuard:
    def __init__(self, texts: Iterable[str], *, near_copy_threshold: float = 0.8) -> None:
        self.threshold = near_copy_threshold
        self._exact: set[str] = set()
        self._shingles: list[set[tuple[str, ...]]] = []
        self._index: dict[tuple[str, ...], list[int]] = defaultdict(list)
        self._prompt_grams: set[tuple[str, ...]] = set()
        self._short: set[str] = set()
        for text in texts:
            self._add(normalize(text))

    def _add(self, norm: str) -> None:
        if not norm or norm in self._exact:
            return
        self._exact.add(norm)
        words = norm.split()
        shingles = _ngrams(words, SHINGLE) if len(words) >= SHINGLE else {tuple(words)}
        ident = len(self._shingles)
        self._shingles.append(shingles)
        for gram in shingles:
            self._index[gram].append(ident)
        if len(words) >= PROMPT_NGRAM:
            self._prompt_grams |= _ngrams(words, PROMPT_NGRAM)
        elif len(words) >= 4:
            self._short.add(norm)

    def __len__(self) -> int:
        return len(self._exact)

    def copy_kind(self, text: str) -> str | None:
        """``"exact"`` or ``"near"`` when ``text`` copies held-out text, else None."""
        norm = normalize(text)
        if not norm:
            return None
        if norm in self._exact:
            return "exact"
        words = norm.split()
        shingles = _ngrams(words, SHINGLE) if len(words) >= SHINGLE else {tuple(words)}
        overlap: dict[int, int] = defaultdict(int)
        for gram in shingles:
            for ident in self._index.get(gram, ()):
                overlap[ident] += 1
        for ident, shared in overlap.items():
            union = len(shingles) + len(self._shingles[ident]) - shared
            if union and shared / union >= self.threshold:
                return "near"
        return None

    def leaks(self, text: str) -> bool:
        """True when ``text`` contains a held-out passage (a whole short held-out text, or any
        run of eight words from a longer one)."""
        norm = normalize(text)
        words = norm.split()
        if self._prompt_grams and not self._prompt_grams.isdisjoint(_ngrams(words, PROMPT_NGRAM)):
            return True
        return any(
            " ".join(words[i : i + n]) in self._short
            for n in range(4, PROMPT_NGRAM)
            for i in range(len(words) - n + 1)
        )

    def check_prompt(self, prompt_text: str) -> None:
        """Raise :class:`LeakageError` if the prompt contains a held-out passage."""
        if self.leaks(prompt_text):
            raise LeakageError(
                "a prompt contains validation/test text and was not sent; "
                "a plugin put held-out text into the prompt: remove it"
            )
