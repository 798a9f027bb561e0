"""A SIMULATION teacher for NER: it answers with real, unseen sentences from a held-out file.

``[teacher] model = "ner-pool:shipped"`` uses ``pgkd_ner/data/pool.jsonl`` (300 sentences
disjoint from the shipped train and test data); ``"ner-pool:/path/to/pool.jsonl"`` any file of
``{"text", "entities": [{"start", "end", "label"}]}`` lines held out from the run's data.

Each call draws ``request.n_samples`` sentences at random (seeded by ``request.seed``), never one
twice, and answers them the way the NER prompt asks an LLM to: a JSON list with every entity
named by its text, so mention resolution, validation and accounting run for real. It ignores the
prompt: its results measure the loop and the student, not any LLM's writing or the guidance.
Token counts are estimated as characters / 4.
"""

from __future__ import annotations

import importlib.resources
import json
import math
import random
from pathlib import Path
from typing import Any

from pgkd import Sample, Teacher, TeacherError, TeacherReply, TeacherRequest, TeacherSettings

from pgkd_ner.spans import to_mention_records
from pgkd_ner.task import NerTask, spans_of

PROVIDER = "ner-pool"
#: ``[teacher] model`` naming the pool file that ships with the package.
SHIPPED = "shipped"


def pool_path(model: str) -> Path:
    if model == SHIPPED:
        return Path(str(importlib.resources.files("pgkd_ner") / "data" / "pool.jsonl"))
    return Path(model).expanduser()


def read_pool(path: Path) -> list[Sample]:
    """The sentences of a pool file; a bad line is a :class:`TeacherError` naming it."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise TeacherError(
            f"ner-pool file {path}: cannot read it ({exc.strerror}); set [teacher] model = "
            '"ner-pool:shipped" or "ner-pool:/path/to/pool.jsonl"'
        ) from None
    task = NerTask()
    samples: list[Sample] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            samples.append(task.parse_record(json.loads(line), origin="teacher", step=0))
        except (ValueError, AttributeError) as exc:
            raise TeacherError(f"{path}:{number}: not a NER record ({exc})") from None
    if not samples:
        raise TeacherError(f"ner-pool file {path}: holds no sentences")
    return samples


def mention_record(sample: Sample) -> dict[str, Any]:
    """A sentence as an LLM following the NER prompt writes it: entities by their text."""
    return {"text": sample.text, "entities": to_mention_records(sample.text, spans_of(sample))}


class HeldOutNerTeacher(Teacher):
    """SIMULATION: answers each call with unseen sentences from a held-out pool file."""

    provider = PROVIDER

    def __init__(self, settings: TeacherSettings) -> None:
        super().__init__(settings)
        self.path = pool_path(settings.model)
        self.remaining = read_pool(self.path)

    def records(self, drawn: list[Sample]) -> list[dict[str, Any]]:
        """The answer's records for the ``drawn`` sentences."""
        return [mention_record(sample) for sample in drawn]

    async def complete(self, request: TeacherRequest) -> TeacherReply:
        # No await before the draw: concurrent calls never share a sentence.
        n = request.n_samples
        if len(self.remaining) < n:
            raise TeacherError(
                f"ner-pool file {self.path} is exhausted: {len(self.remaining)} unused sentences "
                f"left for a call asking for {n}; use a bigger pool or fewer KD steps"
            )
        rng = random.Random(request.seed)
        drawn = [self.remaining.pop(rng.randrange(len(self.remaining))) for _ in range(n)]
        text = json.dumps(self.records(drawn), ensure_ascii=False)
        return TeacherReply(
            text=text,
            input_tokens=math.ceil((len(request.system) + len(request.user)) / 4),
            output_tokens=math.ceil(len(text) / 4),
            model=f"{PROVIDER}:{self.path.name}",
        )
