"""How the SIMULATION teacher labels texts it is shown: a zero-shot labeller as fallible as an
LLM's.

A labelling request (``contents.to_label`` set, e.g. a ``teacher_verification`` call) asks the
teacher to classify texts. The simulation knows each pool text's true label (it wrote the text
from that row), so a perfect answer would be free; a real LLM labelling zero-shot is far from
perfect (the paper's teacher: 0.83 on AG News, 0.44 on HuffPost). So it answers a text's true
label with probability ``zero_shot_accuracy`` and otherwise a wrong one, chosen the way
``label_noise`` chooses: among the classes whose TF-IDF centroid is closest to the text
(:func:`~pgkd.teachers.simulation_texts.noisy_label`). Its mistakes therefore fall where the
writer's label noise falls, as a real teacher's errors in writing and in reading go together.

A text that is not a pool row (another writer's, or edited) is read as its nearest pool row
by TF-IDF cosine and gets that row's label (or a confusable one); a text sharing no word with
any pool row gets no answer, which leaves the asker without a verdict for it.

``zero_shot_accuracy`` has no default: a labelling request to a teacher without it fails with
a :class:`~pgkd.teachers.base.TeacherError` that names the option.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from random import Random

import numpy as np

from pgkd.teachers.base import TeacherError
from pgkd.teachers.simulation_texts import TextSpace, noisy_label

__all__ = ["MISSING_ACCURACY", "nearest_row", "zero_shot_answer"]

MISSING_ACCURACY = (
    "the SIMULATION teacher was asked to label texts (a teacher_verification call) but "
    "[teacher.options] zero_shot_accuracy is not set; set it to the teacher's zero-shot "
    "accuracy on this data, e.g. zero_shot_accuracy = 0.83"
)


def nearest_row(space: TextSpace, text: str) -> int | None:
    """The pool row closest to ``text`` (TF-IDF cosine), or None when it shares no word with
    any row."""
    sims = np.asarray((space.rows @ space.embed([text]).T).todense()).ravel()
    if sims.size == 0 or float(sims.max()) <= 0.0:
        return None
    return int(np.argmax(sims))


def zero_shot_answer(
    texts: Sequence[str],
    *,
    space: TextSpace,
    row_of: Mapping[str, int],
    row_labels: Sequence[str],
    taxonomy: Sequence[str],
    accuracy: float | None,
    rng: Random,
) -> list[dict[str, object]]:
    """``[{"index": i, "label": ...}]`` for the 1-based numbered ``texts``: each text's true
    label with probability ``accuracy``, else a confusable wrong one. ``row_of`` finds a pool
    text's row, ``row_labels`` holds each row's true label."""
    if accuracy is None:
        raise TeacherError(MISSING_ACCURACY)
    among = tuple(taxonomy) or space.labels
    answer: list[dict[str, object]] = []
    for number, text in enumerate(texts, start=1):
        row = row_of.get(text)
        if row is None:
            row = nearest_row(space, text)
        if row is None:
            continue
        truth = row_labels[row]
        label = truth if rng.random() < accuracy else noisy_label(space, row, truth, among, rng)
        answer.append({"index": number, "label": label})
    return answer
