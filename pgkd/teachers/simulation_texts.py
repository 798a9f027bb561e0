"""Which texts the SIMULATION teacher hands out, and which label it writes on them.

An LLM that follows the PGKD prompt does not write at random: asked for class *c*, it writes
texts like the prompt's examples that concern *c*. ``writer = "imitate"`` plays that with real
pool rows: for each sample of class *c* it takes one of the examples concerning *c* at random
(misclassified and hard-negative examples whose true label is *c*, and those the student
wrongly predicts as *c*; the few-shot examples of *c* when there are none), ranks the unused
pool rows of class *c* by closeness to it, and picks one of the ``nearest`` closest at random
(among the rows sharing at least one word with it, while there are any). A class the prompt
shows no example of is written from its name alone: any unused row.

Closeness is the cosine similarity of TF-IDF vectors (word unigrams and bigrams, sublinear term
frequency, English stop words removed), fitted once per pool file and kept for the process.
Not the student's encoder: a simulation that picked texts by the student's own representation
would grade its own homework, placing samples exactly where the student's geometry says they
help. Shared words are what a writer imitating an example most visibly reproduces, and they
are independent of the student.

``label_noise = p``: a fraction *p* of the written samples carry a wrong label, the way an LLM
writing near a decision boundary gets some wrong. The wrong label is drawn among the
``NOISE_CANDIDATES`` other classes whose centroid (the mean TF-IDF vector of the class's pool
rows) is closest to the text, in proportion to that similarity, so a mistake goes where the
text is confusable.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from random import Random

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from pgkd.types import Example, PromptContents

__all__ = [
    "ERROR_LISTS",
    "NOISE_CANDIDATES",
    "Imitation",
    "TextSpace",
    "imitation_targets",
    "noisy_label",
    "text_space",
]

#: Example lists whose samples the student gets wrong.
ERROR_LISTS = ("incorrect", "hard_negatives")
#: The few-shot list: imitated for a class without any error example.
FEW_SHOT = "few_shot"
#: How many nearest other classes a wrong label is drawn from.
NOISE_CANDIDATES = 3
#: Spaces kept per process (one per pool file; the protocol runs every arm of a seed on one).
_KEPT = 2


@dataclass(frozen=True)
class TextSpace:
    """TF-IDF vectors of a pool's texts (row ``i`` is the pool's sample ``i``, L2-normalised)
    and each class's centroid, for closeness between texts and to classes."""

    vectorizer: TfidfVectorizer
    rows: sparse.csr_matrix
    labels: tuple[str, ...]
    centroids: sparse.csr_matrix

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[str]) -> TextSpace:
        vectorizer = TfidfVectorizer(
            sublinear_tf=True,
            ngram_range=(1, 2),
            min_df=2 if len(texts) >= 50 else 1,
            max_features=2**16,
            stop_words="english",
            dtype=np.float32,
        )
        rows = sparse.csr_matrix(vectorizer.fit_transform(texts))
        names = tuple(dict.fromkeys(labels))
        index = {label: i for i, label in enumerate(names)}
        member = sparse.csr_matrix(
            (
                np.ones(len(labels), dtype=np.float32),
                ([index[label] for label in labels], np.arange(len(labels))),
            ),
            shape=(len(names), len(labels)),
        )
        centroids = sparse.csr_matrix(normalize(member @ rows))
        return cls(vectorizer, rows, names, centroids)

    def embed(self, texts: Sequence[str]) -> sparse.csr_matrix:
        return sparse.csr_matrix(self.vectorizer.transform(list(texts)))

    def confusable(self, row: int, label: str, among: Sequence[str]) -> list[tuple[str, float]]:
        """The ``NOISE_CANDIDATES`` classes of ``among`` other than ``label`` whose centroid is
        closest to pool row ``row``, with their cosine similarity, closest first."""
        index = {name: i for i, name in enumerate(self.labels)}
        others = [name for name in among if name != label and name in index]
        if not others:
            return []
        picked = self.centroids[[index[name] for name in others]]
        sims = np.asarray((picked @ self.rows[row].T).todense()).ravel()
        order = np.argsort(-sims, kind="stable")[:NOISE_CANDIDATES]
        return [(others[i], float(sims[i])) for i in order]


_SPACES: OrderedDict[tuple[str, int, int], TextSpace] = OrderedDict()


def text_space(path: Path, texts: Sequence[str], labels: Sequence[str]) -> TextSpace:
    """The TF-IDF space of the pool file at ``path`` (its ``texts`` and ``labels``), fitted on
    first use and shared by every teacher of the process that reads the same file unchanged."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    space = _SPACES.get(key)
    if space is None:
        space = TextSpace.fit(texts, labels)
        _SPACES[key] = space
        while len(_SPACES) > _KEPT:
            _SPACES.popitem(last=False)
    _SPACES.move_to_end(key)
    return space


def imitation_targets(contents: PromptContents | None, label: str) -> list[str]:
    """The texts of the prompt's examples that concern ``label``: error examples whose true
    label it is or that the student wrongly predicts as it; else its few-shot examples; else
    none."""
    if contents is None:
        return []
    errors = [
        example.sample.text
        for name in ERROR_LISTS
        for example in contents.examples.get(name, ())
        if _concerns(example, label)
    ]
    if errors:
        return list(dict.fromkeys(errors))
    return [
        example.sample.text
        for example in contents.examples.get(FEW_SHOT, ())
        if example.sample.target == label
    ]


def _concerns(example: Example, label: str) -> bool:
    if example.sample.target == label:
        return True
    prediction = example.prediction
    return prediction is not None and not prediction.correct and prediction.target == label


class Imitation:
    """One call's choices by imitation. For each class asked for, the closeness of its unused
    rows (as they stood when the call first asked for the class) to the prompt's examples of
    it is computed once; rows picked earlier in the call are not picked again."""

    def __init__(self, space: TextSpace, contents: PromptContents | None, nearest: int) -> None:
        self.space = space
        self.contents = contents
        self.nearest = nearest
        self._ranked: dict[str, _Ranked | None] = {}

    def pick(self, label: str, unused: Callable[[], Sequence[int]], rng: Random) -> int | None:
        """A pool row of ``label`` among ``unused()`` (its unused pool row numbers), close to
        one of the prompt's examples of it (drawn at random); None when the prompt shows
        none."""
        if label not in self._ranked:
            self._ranked[label] = self._rank(label, unused())
        ranked = self._ranked[label]
        if ranked is None or not ranked.open.any():
            return None
        column = np.where(ranked.open, ranked.sims[:, rng.randrange(ranked.sims.shape[1])], -np.inf)
        # Rows sharing no word with the example are no closer than any other: only when none
        # shares one does the choice fall back to them.
        related = int((column > 0).sum())
        k = min(self.nearest, related or int(ranked.open.sum()))
        best = np.argpartition(-column, k - 1)[:k]
        best = best[np.lexsort((best, -column[best]))]
        chosen = int(best[rng.randrange(k)])
        ranked.open[chosen] = False
        return int(ranked.rows[chosen])

    def _rank(self, label: str, unused: Sequence[int]) -> _Ranked | None:
        targets = imitation_targets(self.contents, label)
        if not targets or not unused:
            return None
        rows = np.sort(np.asarray(unused, dtype=np.int64))
        sims = self.space.rows[rows] @ self.space.embed(targets).T
        dense = np.asarray(sims.todense(), dtype=np.float64)
        return _Ranked(rows, dense, np.ones(len(rows), dtype=bool))


@dataclass
class _Ranked:
    rows: np.ndarray
    sims: np.ndarray
    open: np.ndarray


def noisy_label(space: TextSpace, row: int, label: str, among: Sequence[str], rng: Random) -> str:
    """A wrong label for pool row ``row`` (true label ``label``): one of the classes of
    ``among`` its text is most confusable with, drawn in proportion to closeness."""
    candidates = space.confusable(row, label, among)
    if not candidates:
        return label
    weights = [max(sim, 0.0) for _, sim in candidates]
    if sum(weights) <= 0:
        weights = [1.0] * len(candidates)
    return rng.choices([name for name, _ in candidates], weights=weights)[0]
