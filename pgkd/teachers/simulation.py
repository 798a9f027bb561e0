"""A SIMULATION teacher for benchmarks: it answers with real samples from a held-out file.

No LLM is reachable on a benchmark machine, yet the loop's questions — does performance
guidance put new samples where the student needs them, and do texts like the prompt's examples
help? — can still be measured: :class:`SimulationTeacher` plays a teacher that hands out real,
unseen labelled samples. It decides *which classes* to write (``strategy``), *which texts*
(``writer``) and how often the label is wrong (``label_noise``), from what reached the prompt
and nothing else. Its answers are JSON text like an LLM's, so parsing, validation, dedup and
accounting all run for real. Its results say nothing about any LLM's writing quality.

``[teacher] model = "simulation:/path/to/pool.jsonl"`` (or ``.jsonl.gz``; ``pool:`` is the
older name of the same provider): one ``{"text": ..., "label": ...}`` object a line, held out
from the run's train, validation and test data. Texts that occur twice are kept once. No sample
is handed out twice by one teacher; once the pool cannot fill a call, the call fails with a
:class:`TeacherError`.

What it reads: each request's ``contents`` (:class:`~pgkd.types.PromptContents`, set by the
prompt builder from exactly what the prompt shows: the labels, the example lists, the
validation scores when the report is shown) and, for ``counts:`` lines, the prompt text. A
prompt built without contents is answered as an unguided one. Disabling ``validation_report``
or ``hard_negatives`` therefore changes what it can follow or imitate, as it would for an LLM.

It implements the optional :class:`~pgkd.teachers.simulation_protocol.SimulationProvider`
protocol: a resumed run hands it every journaled answer (:meth:`SimulationTeacher.restore`), so
it continues exactly as the uninterrupted run would (with the response cache on, as by
default, the killed step's answered calls are replayed from the cache, not asked again).

Each call answers ``request.n_samples`` samples as ``[{"text": ..., "label": ...}, ...]`` (when
``request.schema`` is an object with a single array property, the list is wrapped in it). Every
draw is seeded by ``request.seed``. Token counts are estimated as characters / 4.

``[teacher] options`` (:class:`SimulationOptions`; unknown keys are refused):

``strategy`` (default ``"guided"``): which classes, see
    :mod:`pgkd.teachers.simulation_classes`: ``"uniform"`` (rows at random, classes in the
    pool's proportions), ``"guided"`` (from the prompt's report and error examples), or
    ``"request"`` (the prompt's ``counts: {"Sports": 3, "World": 1}`` line, exactly; answered
    as ``"guided"`` without one).
``floor`` (0.2), ``error_share`` (0.2), ``prior_strength`` (10), ``guidance_strength`` (1):
    the ``guided`` mixture, see :func:`~pgkd.teachers.simulation_classes.guided_weights`.
``writer`` (default ``"random"``): which texts, see :mod:`pgkd.teachers.simulation_texts`:
    ``"random"`` (any unused row of the class) or ``"imitate"`` (rows closest to the prompt's
    examples of the class, by TF-IDF).
``nearest`` (default 10): ``imitate`` picks at random among this many closest rows.
``label_noise`` (default 0): the share of samples written with a wrong, confusable label.
``zero_shot_accuracy`` (no default): how often it labels a text it is shown correctly, for
    labelling requests (``contents.to_label``: a ``teacher_verification`` call), see
    :mod:`pgkd.teachers.simulation_labelling`; such a request without it is a TeacherError.
"""

from __future__ import annotations

import gzip
import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from pgkd.teachers.base import Teacher, TeacherError, TeacherReply, TeacherRequest, TeacherSettings
from pgkd.teachers.options import StrictOptions
from pgkd.teachers.simulation_classes import guided_weights, parse_counts, total_variation
from pgkd.teachers.simulation_labelling import zero_shot_answer
from pgkd.teachers.simulation_texts import Imitation, TextSpace, noisy_label, text_space
from pgkd.types import PromptContents

__all__ = [
    "PROVIDERS",
    "PoolSample",
    "SimulationOptions",
    "SimulationTeacher",
    "read_pool",
]

#: The provider names of this teacher: ``simulation``, and ``pool``, its older name.
PROVIDERS = ("simulation", "pool")
WRITERS = ("random", "imitate")


class SimulationOptions(StrictOptions):
    """``[teacher] options`` of the SIMULATION teacher (see the module docstring)."""

    strategy: Literal["uniform", "guided", "request"] = "guided"
    floor: float = Field(0.2, ge=0, le=1)
    error_share: float = Field(0.2, ge=0, le=1)
    prior_strength: float = Field(10.0, ge=0)
    guidance_strength: float = Field(1.0, ge=0)
    writer: Literal["random", "imitate"] = "random"
    nearest: int = Field(10, ge=1)
    label_noise: float = Field(0.0, ge=0, le=1)
    zero_shot_accuracy: float | None = Field(None, gt=0, le=1)

    @model_validator(mode="after")
    def _shares(self) -> SimulationOptions:
        if self.floor + self.error_share > 1:
            raise ValueError("floor + error_share must be at most 1")
        return self


@dataclass(frozen=True, slots=True)
class PoolSample:
    """One pool row: its text, its true label and its row number in the pool file's order."""

    text: str
    label: str
    row: int = 0


class _ClassRows:
    """The unused samples of one class. A take swaps the sample with the last one before
    popping it, so replaying the takes of a run in order rebuilds its exact order."""

    def __init__(self) -> None:
        self.samples: list[PoolSample] = []
        self.where: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.samples)

    def add(self, sample: PoolSample) -> None:
        self.where[sample.text] = len(self.samples)
        self.samples.append(sample)

    def take_at(self, index: int) -> PoolSample:
        samples = self.samples
        taken, last = samples[index], samples[-1]
        samples[index] = last
        self.where[last.text] = index
        samples.pop()
        del self.where[taken.text]
        return taken

    def take(self, text: str) -> PoolSample | None:
        index = self.where.get(text)
        return None if index is None else self.take_at(index)


class SimulationTeacher(Teacher):
    """SIMULATION: answers each request with real, unseen labelled samples from a pool file."""

    provider = "simulation"
    Options: ClassVar[type[SimulationOptions]] = SimulationOptions
    options: SimulationOptions
    #: It asks no model: its tokens cost nothing.
    free: ClassVar[bool] = True

    def __init__(self, settings: TeacherSettings) -> None:
        super().__init__(settings)
        self.path = Path(_pool_file(settings.model)).expanduser()
        self.strategy = self.options.strategy
        #: Unused samples by label.
        self.remaining: dict[str, _ClassRows] = {}
        pool = read_pool(self.path)
        self._pool = pool
        self._label_of = {sample.text: sample.label for sample in pool}
        self._row_of = {sample.text: sample.row for sample in pool}
        for sample in pool:
            self.remaining.setdefault(sample.label, _ClassRows()).add(sample)
        #: For each guided draw, how far its class weights are from an even split (total
        #: variation: the share of the call's samples the guidance moves).
        self.moved: list[float] = []
        self.space: TextSpace | None = None
        if self.options.writer == "imitate" or self.options.label_noise > 0:
            # Fitted once per pool file, never per step.
            self.space = text_space(self.path, [s.text for s in pool], [s.label for s in pool])

    @property
    def left(self) -> int:
        """Samples not handed out yet."""
        return sum(len(rows) for rows in self.remaining.values())

    def unused(self, label: str) -> int:
        """Unused samples of ``label`` (a budget's capacity in the benchmarks)."""
        rows = self.remaining.get(label)
        return len(rows) if rows is not None else 0

    async def complete(self, request: TeacherRequest) -> TeacherReply:
        # No await below: each call takes its samples atomically, so concurrent calls from one
        # event loop never share a sample.
        rng = random.Random(request.seed)
        if request.contents is not None and request.contents.to_label:
            return self._label(request, request.contents, rng)
        writer = self._writer(request.contents)
        counts = parse_counts(request.user) if self.strategy == "request" else None
        if counts is not None:
            drawn = self._draw_counts(counts, rng, writer)
        else:
            weights = self.class_weights(request.contents)
            if weights is not None:
                self.moved.append(total_variation(weights))
            drawn = self._draw(request.n_samples, rng, weights, writer)
        labels = self._labels(drawn, request.contents, rng)
        records = [{"text": s.text, "label": label} for s, label in zip(drawn, labels, strict=True)]
        text = json.dumps(_shape_like(records, request.schema), ensure_ascii=False)
        return self._reply(request, text)

    def _label(
        self, request: TeacherRequest, contents: PromptContents, rng: random.Random
    ) -> TeacherReply:
        """Answer a labelling request (see :mod:`pgkd.teachers.simulation_labelling`); it
        hands out no sample."""
        if self.space is None:
            self.space = text_space(
                self.path, [s.text for s in self._pool], [s.label for s in self._pool]
            )
        records = zero_shot_answer(
            contents.to_label,
            space=self.space,
            row_of=self._row_of,
            row_labels=[s.label for s in self._pool],
            taxonomy=contents.labels,
            accuracy=self.options.zero_shot_accuracy,
            rng=rng,
        )
        return self._reply(request, json.dumps(_shape_like(records, request.schema)))

    def _reply(self, request: TeacherRequest, text: str) -> TeacherReply:
        return TeacherReply(
            text=text,
            input_tokens=_estimate_tokens(request.system) + _estimate_tokens(request.user),
            output_tokens=_estimate_tokens(text),
            model=f"{self.settings.provider}:{self.path.name}",
        )

    def class_weights(self, contents: PromptContents | None) -> dict[str, float] | None:
        """The draw's class weights under the ``guided`` strategy (also a ``request`` prompt
        without a counts line), over the classes the pool still holds; None (draw at random)
        for ``uniform`` or for a prompt without contents."""
        if self.strategy == "uniform" or contents is None:
            return None
        taxonomy = contents.labels or tuple(self.remaining)
        o = self.options
        return guided_weights(
            contents,
            [label for label in taxonomy if self.unused(label)],
            floor=o.floor,
            error_share=o.error_share,
            prior_strength=o.prior_strength,
            strength=o.guidance_strength,
        )

    def _writer(self, contents: PromptContents | None) -> Imitation | None:
        if self.options.writer != "imitate" or self.space is None:
            return None
        return Imitation(self.space, contents, self.options.nearest)

    def _draw(
        self,
        n: int,
        rng: random.Random,
        weights: Mapping[str, float] | None,
        writer: Imitation | None,
    ) -> list[PoolSample]:
        """``n`` samples: by class weight when given (only those classes), else at random."""
        if weights is None:
            eligible = list(self.remaining)
        else:
            eligible = [label for label, weight in weights.items() if weight > 0]
        available = sum(self.unused(label) for label in eligible)
        if available < n:
            raise TeacherError(
                f"simulation pool {self.path} is exhausted: {available} unused samples left for "
                f"a call asking for {n}; use a bigger pool file or fewer KD steps"
            )
        drawn: list[PoolSample] = []
        for _ in range(n):
            open_labels = [label for label in eligible if self.unused(label)]
            if weights is None:
                sizes = [self.unused(label) for label in open_labels]
                label = rng.choices(open_labels, weights=sizes)[0]
            else:
                open_weights = [weights[label] for label in open_labels]
                label = rng.choices(open_labels, weights=open_weights)[0]
            drawn.append(self._take(label, rng, writer))
        return drawn

    def _draw_counts(
        self, counts: Mapping[str, int], rng: random.Random, writer: Imitation | None
    ) -> list[PoolSample]:
        for label, count in counts.items():
            have = self.unused(label)
            if have < count:
                raise TeacherError(
                    f"simulation pool {self.path} has {have} unused samples of label {label!r}, "
                    f"the prompt's counts line asks for {count}"
                )
        return [
            self._take(label, rng, writer) for label, count in counts.items() for _ in range(count)
        ]

    def _take(self, label: str, rng: random.Random, writer: Imitation | None) -> PoolSample:
        rows = self.remaining[label]
        if writer is not None:
            row = writer.pick(label, lambda: [s.row for s in rows.samples], rng)
            if row is not None:
                taken = rows.take(self._pool[row].text)
                if taken is not None:
                    return taken
        return rows.take_at(rng.randrange(len(rows)))

    def _labels(
        self, drawn: Sequence[PoolSample], contents: PromptContents | None, rng: random.Random
    ) -> list[str]:
        """Each drawn sample's written label: its own, or with probability ``label_noise`` a
        confusable other class of the prompt's taxonomy."""
        p = self.options.label_noise
        if p <= 0 or self.space is None:
            return [sample.label for sample in drawn]
        taxonomy = (contents.labels if contents is not None else ()) or self.space.labels
        return [
            noisy_label(self.space, s.row, s.label, taxonomy, rng) if rng.random() < p else s.label
            for s in drawn
        ]

    def restore(self, answers: Sequence[str]) -> None:
        """Take out the samples of a resumed run's earlier answers, in the order they were
        handed out, so every class's unused samples stand exactly as the uninterrupted run
        left them and later draws match. A sample is found by its text (its written label may
        be a noisy one); texts not in the pool are ignored."""
        for answer in answers:
            for text in _answer_texts(answer):
                label = self._label_of.get(text)
                if label is not None:
                    self.remaining[label].take(text)


def read_pool(path: Path) -> list[PoolSample]:
    """The distinct samples of a pool file (``.jsonl`` or ``.jsonl.gz``), in file order."""
    if not path.is_file():
        raise TeacherError(
            f'simulation pool file not found: {path} (set [teacher] model = "simulation:/path/'
            'to/pool.jsonl" to a JSONL file of {"text", "label"} objects held out from the run)'
        )
    opener = gzip.open if path.name.endswith(".gz") else open
    samples: list[PoolSample] = []
    seen: set[str] = set()
    try:
        with opener(path, "rt", encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                text, label = _parse_line(path, number, line)
                if text not in seen:
                    seen.add(text)
                    samples.append(PoolSample(text, label, len(samples)))
    except (OSError, UnicodeDecodeError) as exc:
        raise TeacherError(f"cannot read simulation pool {path}: {exc}") from exc
    if not samples:
        raise TeacherError(f"simulation pool {path} holds no samples")
    return samples


def _pool_file(model: str) -> str:
    for provider in PROVIDERS:
        model = model.removeprefix(f"{provider}:")
    return model


def _parse_line(path: Path, number: int, line: str) -> tuple[str, str]:
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise TeacherError(f"{path}:{number}: not a JSON object: {exc}") from exc
    if not isinstance(record, dict):
        raise TeacherError(f"{path}:{number}: expected a JSON object with text and label")
    text, label = record.get("text"), record.get("label")
    if not isinstance(text, str) or not isinstance(label, str) or not text.strip():
        raise TeacherError(
            f"{path}:{number}: needs a non-empty string 'text' and a string 'label' "
            f"(found keys: {', '.join(sorted(record)) or 'none'})"
        )
    return text, label


def _answer_texts(answer: str) -> list[str]:
    """The text of each record of an answer this teacher wrote (a list, or an object with one
    array property); nothing for text that is not such an answer."""
    try:
        value = json.loads(answer)
    except ValueError:
        return []
    if isinstance(value, dict):
        arrays = [v for v in value.values() if isinstance(v, list)]
        value = arrays[0] if len(arrays) == 1 else []
    if not isinstance(value, list):
        return []
    return [r["text"] for r in value if isinstance(r, dict) and isinstance(r.get("text"), str)]


def _shape_like(records: Sequence[Mapping[str, object]], schema: Mapping[str, Any] | None) -> Any:
    """The records as the answer schema wants them: a bare list, or wrapped in the single array
    property of an object schema."""
    if schema is None or schema.get("type") != "object":
        return records
    properties = schema.get("properties") or {}
    arrays = [name for name, spec in properties.items() if spec.get("type") == "array"]
    return {arrays[0]: records} if len(arrays) == 1 else records


def _estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)
