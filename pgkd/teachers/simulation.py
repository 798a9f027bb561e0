"""A SIMULATION teacher for benchmarks: it answers with real samples from a held-out file.

No LLM is reachable on a benchmark machine, yet the loop's question — does performance guidance
put new samples where the student needs them? — can still be measured: :class:`PoolTeacher`
plays a teacher that writes perfect, unseen samples and only decides *which classes* to write.
Its answers are JSON text like an LLM's, so parsing, validation, dedup and accounting all run
for real. Its results say nothing about any LLM's writing quality.

``[teacher] model = "pool:/path/to/pool.jsonl"`` (or ``.jsonl.gz``): one ``{"text": ...,
"label": ...}`` object a line, held out from the run's train, validation and test data. Texts
that occur twice are kept once. No sample is handed out twice by one teacher; once the pool
cannot fill a call, the call fails with a :class:`TeacherError`. A resumed run takes out what
the run's journaled answers handed out (:meth:`PoolTeacher.restore`), so it continues exactly
as the uninterrupted run would (with the response cache on, as by default: the killed step's
answered calls are then replayed from the cache, not asked again).

Each call answers ``request.n_samples`` samples as ``[{"text": ..., "label": ...}, ...]`` (when
``request.schema`` is an object with a single array property, the list is wrapped in it). Every
draw is seeded by ``request.seed``. Token counts are estimated as characters / 4.

``[teacher] options``:

``strategy`` (default ``"guided"``)
    ``"uniform"``: samples at random, so classes come in proportion to the pool.
    ``"guided"``: classes drawn from a mixture of three distributions (see :func:`guided_weights`):
    a floor spread evenly over the classes, the classes' weakness (1 - F1, with each class's
    validation F1 shrunk toward the mean F1 by its support), and how often a class is the true
    label of the prompt's misclassified examples and hard negatives. Like an LLM, it is guided
    only by what reached the prompt: the weakness part counts only when the request's prompt
    holds the step's validation report (:func:`report_visible`; with the ``validation_report``
    plugin disabled, as in the paper's ablation, it is even over the classes). Without a step
    context it falls back to uniform.
    ``"request"``: the prompt names the count per class on one line of ``request.user``::

        counts: {"Sports": 3, "World": 1}

    (``counts:`` then a JSON object of label -> non-negative integer). The answer holds exactly
    those samples, whatever ``n_samples`` says. A prompt without such a line is answered as
    ``"guided"``.
``floor`` (default 0.2)
    Share of draws spread evenly over all classes, so every class keeps being sampled.
``error_share`` (default 0.2)
    Share of draws that follow the misclassified / hard-negative examples (when there are any).
``prior_strength`` (default 10)
    How many validation samples' worth of weight the mean F1 gets when a class's F1 is shrunk:
    ``shrunk = (support * f1 + prior_strength * mean_f1) / (support + prior_strength)``.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgkd.teachers.base import Teacher, TeacherError, TeacherReply, TeacherRequest, TeacherSettings
from pgkd.types import StepContext

__all__ = [
    "REPORT_SECTION",
    "STRATEGIES",
    "PoolSample",
    "PoolTeacher",
    "guided_weights",
    "parse_counts",
    "report_visible",
]

STRATEGIES = ("uniform", "guided", "request")
#: Example lists whose true labels count as the student's errors.
ERROR_LISTS = ("incorrect", "hard_negatives")
#: The ``context.report`` section of the validation report (the built-in ``on_eval``'s).
REPORT_SECTION = "validation_report"
_COUNTS_LINE = re.compile(r"^\s*counts\s*:\s*(\{.*\})\s*$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True, slots=True)
class PoolSample:
    text: str
    label: str


class PoolTeacher(Teacher):
    """SIMULATION: answers each request with real, unseen labelled samples from a pool file."""

    provider = "pool"
    simulation = True
    free = True

    def __init__(self, settings: TeacherSettings) -> None:
        super().__init__(settings)
        self.path = Path(settings.model.removeprefix("pool:")).expanduser()
        options = settings.options
        self.strategy = str(options.get("strategy", "guided"))
        if self.strategy not in STRATEGIES:
            raise TeacherError(
                f"[teacher] options.strategy = {self.strategy!r} is not one of "
                f"{', '.join(STRATEGIES)}"
            )
        self.floor = _number_option(options, "floor", 0.2)
        self.error_share = _number_option(options, "error_share", 0.2)
        if self.floor + self.error_share > 1:
            raise TeacherError("[teacher] options.floor + options.error_share must be at most 1")
        self.prior_strength = _number_option(options, "prior_strength", 10.0, high=math.inf)
        #: Unused samples by label, in file order.
        self.remaining: dict[str, list[PoolSample]] = {}
        for sample in read_pool(self.path):
            self.remaining.setdefault(sample.label, []).append(sample)

    @property
    def left(self) -> int:
        """Samples not handed out yet."""
        return sum(len(samples) for samples in self.remaining.values())

    async def complete(self, request: TeacherRequest) -> TeacherReply:
        # No await below: each call takes its samples atomically, so concurrent calls from one
        # event loop never share a sample.
        rng = random.Random(request.seed)
        counts = parse_counts(request.user) if self.strategy == "request" else None
        if counts is not None:
            drawn = self._draw_counts(counts, rng)
        else:
            drawn = self._draw(request.n_samples, rng, weights=self.class_weights(request))
        records = [{"text": sample.text, "label": sample.label} for sample in drawn]
        text = json.dumps(_shape_like(records, request.schema), ensure_ascii=False)
        return TeacherReply(
            text=text,
            input_tokens=_estimate_tokens(request.system) + _estimate_tokens(request.user),
            output_tokens=_estimate_tokens(text),
            model=f"pool:{self.path.name}",
        )

    def class_weights(self, request: TeacherRequest) -> dict[str, float] | None:
        """The draw's class weights for ``request`` under the ``guided`` strategy (also a
        ``request`` prompt without a counts line), over the classes the pool still holds;
        None (draw at random) for ``uniform`` or without a step context."""
        context = request.context if isinstance(request.context, StepContext) else None
        if self.strategy == "uniform" or context is None:
            return None
        taxonomy = context.labels or tuple(self.remaining)
        return guided_weights(
            context,
            [label for label in taxonomy if label in self.remaining],
            floor=self.floor,
            error_share=self.error_share,
            prior_strength=self.prior_strength,
            report_visible=report_visible(context, request.user),
        )

    def _draw(
        self, n: int, rng: random.Random, *, weights: Mapping[str, float] | None
    ) -> list[PoolSample]:
        """``n`` samples: by class weight when given (only those classes), else at random."""
        if weights is None:
            eligible = list(self.remaining)
        else:
            eligible = [label for label, weight in weights.items() if weight > 0]
        available = sum(len(self.remaining.get(label, ())) for label in eligible)
        if available < n:
            raise TeacherError(
                f"simulation pool {self.path} is exhausted: {available} unused samples left for "
                f"a call asking for {n}; use a bigger pool file or fewer KD steps"
            )
        drawn: list[PoolSample] = []
        for _ in range(n):
            open_labels = [label for label in eligible if self.remaining.get(label)]
            if weights is None:
                sizes = [len(self.remaining[label]) for label in open_labels]
                label = rng.choices(open_labels, weights=sizes)[0]
            else:
                open_weights = [weights[label] for label in open_labels]
                label = rng.choices(open_labels, weights=open_weights)[0]
            drawn.append(self._take(label, rng))
        return drawn

    def _draw_counts(self, counts: Mapping[str, int], rng: random.Random) -> list[PoolSample]:
        for label, count in counts.items():
            have = len(self.remaining.get(label, ()))
            if have < count:
                raise TeacherError(
                    f"simulation pool {self.path} has {have} unused samples of label {label!r}, "
                    f"the prompt's counts line asks for {count}"
                )
        return [self._take(label, rng) for label, count in counts.items() for _ in range(count)]

    def _take(self, label: str, rng: random.Random) -> PoolSample:
        samples = self.remaining[label]
        return _swap_pop(samples, rng.randrange(len(samples)))

    def restore(self, answers: Sequence[str]) -> None:
        """Take out the samples of a resumed run's earlier answers, in the order they were
        handed out. A take swaps the sample with the last of its class before popping it, so
        replaying the takes in order leaves every class's list exactly as the uninterrupted
        run had it, and later draws match. Samples not in the pool are ignored."""
        where = {
            label: {sample.text: i for i, sample in enumerate(samples)}
            for label, samples in self.remaining.items()
        }
        for answer in answers:
            for text, label in _answer_records(answer):
                index = where.get(label, {}).pop(text, None)
                if index is None:
                    continue
                samples = self.remaining[label]
                if index != len(samples) - 1:
                    where[label][samples[-1].text] = index
                _swap_pop(samples, index)


def guided_weights(
    context: StepContext,
    labels: Sequence[str],
    *,
    floor: float,
    error_share: float,
    prior_strength: float,
    report_visible: bool = True,
) -> dict[str, float]:
    """Draw probabilities over ``labels`` (summing to 1) from a step's validation report and
    example lists.

    A mixture: ``floor`` evenly over the labels; ``error_share`` in proportion to how often each
    label is the true label of the ``incorrect`` and ``hard_negatives`` examples (its share goes
    to the weakness part when there are none); the rest in proportion to weakness, ``1 - F1``
    where each label's validation F1 is shrunk toward the mean F1 by its support. With about five
    validation samples per class a raw F1 is mostly noise; shrinking keeps one unlucky sample
    from steering the whole batch. Without ``report_visible`` (the prompt does not show the
    validation report) no F1 is known and the weakness part is even over the labels.
    """
    if not labels:
        return {}
    scores = context.validation.per_class if report_visible else {}
    supported = [score.f1 for score in scores.values() if score.support > 0]
    mean_f1 = sum(supported) / len(supported) if supported else 0.0
    weakness: dict[str, float] = {}
    for label in labels:
        score = scores.get(label)
        support = score.support if score is not None else 0
        f1 = score.f1 if score is not None else mean_f1
        weight = support + prior_strength
        shrunk = (support * f1 + prior_strength * mean_f1) / weight if weight > 0 else mean_f1
        weakness[label] = max(0.0, 1.0 - shrunk)
    errors = Counter(
        example.sample.target
        for name in ERROR_LISTS
        for example in context.examples.get(name, ())
        if example.sample.target in weakness
    )
    total_errors = sum(errors.values())
    if total_errors == 0:
        error_share = 0.0
    total_weakness = sum(weakness.values())
    weak_share = 1.0 - floor - error_share
    weights: dict[str, float] = {}
    for label in labels:
        weak = weakness[label] / total_weakness if total_weakness else 1.0 / len(labels)
        error = errors[label] / total_errors if total_errors else 0.0
        weights[label] = floor / len(labels) + weak_share * weak + error_share * error
    return weights


def report_visible(context: StepContext, user: str) -> bool:
    """Whether the prompt text ``user`` shows the step's validation report (the section the
    ``validation_report`` plugin put into ``context.report``)."""
    report = context.report.get(REPORT_SECTION)
    return bool(report and report in user)


def parse_counts(user: str) -> dict[str, int] | None:
    """The per-class counts a prompt asks for (a ``counts: {...}`` line), or None if none."""
    match = _COUNTS_LINE.search(user)
    if match is None:
        return None
    line = match.group(0).strip()
    try:
        value = json.loads(match.group(1))
    except ValueError as exc:
        raise TeacherError(f"prompt line {line!r} is not `counts: <JSON object>`: {exc}") from exc
    if not isinstance(value, dict) or not all(
        isinstance(count, int) and not isinstance(count, bool) and count >= 0
        for count in value.values()
    ):
        raise TeacherError(
            f"prompt line {line!r} must map each label to a non-negative integer, "
            'e.g. counts: {"Sports": 3}'
        )
    return {str(label): int(count) for label, count in value.items()}


def read_pool(path: Path) -> list[PoolSample]:
    """The distinct samples of a pool file (``.jsonl`` or ``.jsonl.gz``), in file order."""
    if not path.is_file():
        raise TeacherError(
            f'simulation pool file not found: {path} (set [teacher] model = "pool:/path/to/'
            'pool.jsonl" to a JSONL file of {"text", "label"} objects held out from the run)'
        )
    opener = gzip.open if path.name.endswith(".gz") else open
    samples: list[PoolSample] = []
    seen: set[str] = set()
    try:
        with opener(path, "rt", encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                sample = _parse_line(path, number, line)
                if sample.text not in seen:
                    seen.add(sample.text)
                    samples.append(sample)
    except (OSError, UnicodeDecodeError) as exc:
        raise TeacherError(f"cannot read simulation pool {path}: {exc}") from exc
    if not samples:
        raise TeacherError(f"simulation pool {path} holds no samples")
    return samples


def _parse_line(path: Path, number: int, line: str) -> PoolSample:
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
    return PoolSample(text=text, label=label)


def _swap_pop(samples: list[PoolSample], index: int) -> PoolSample:
    samples[index], samples[-1] = samples[-1], samples[index]
    return samples.pop()


def _answer_records(answer: str) -> list[tuple[str, str]]:
    """(text, label) of each record of an answer this teacher wrote (a list, or an object
    with one array property); nothing for text that is not such an answer."""
    try:
        value = json.loads(answer)
    except ValueError:
        return []
    if isinstance(value, dict):
        arrays = [v for v in value.values() if isinstance(v, list)]
        value = arrays[0] if len(arrays) == 1 else []
    if not isinstance(value, list):
        return []
    records = [r for r in value if isinstance(r, dict)]
    return [
        (r["text"], r["label"])
        for r in records
        if isinstance(r.get("text"), str) and isinstance(r.get("label"), str)
    ]


def _shape_like(records: list[dict[str, str]], schema: Mapping[str, Any] | None) -> Any:
    """The records as the answer schema wants them: a bare list, or wrapped in the single array
    property of an object schema."""
    if schema is None or schema.get("type") != "object":
        return records
    properties = schema.get("properties") or {}
    arrays = [name for name, spec in properties.items() if spec.get("type") == "array"]
    return {arrays[0]: records} if len(arrays) == 1 else records


def _number_option(
    options: Mapping[str, Any], key: str, default: float, *, high: float = 1.0
) -> float:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high:
        bound = "a number >= 0" if math.isinf(high) else f"a number from 0 to {high:g}"
        raise TeacherError(f"[teacher] options.{key} = {value!r} must be {bound}")
    return float(value)


def _estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)
