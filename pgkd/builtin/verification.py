"""Noise-robust acceptance with a real LLM counterpart: the teacher labels its own samples
zero-shot, and a sample whose zero-shot label differs from the one it was written with is
rejected (``teacher_disagrees``).

A teacher writing near a decision boundary puts some texts under the wrong label; asked
afterwards, without the writing prompt, which label a text has, it often answers otherwise.
After a step's fill, the candidates worth asking about go back to the teacher in numbered
lists of ``texts_per_call``; each call asks for a JSON list of ``{"index": i, "label": ...}``.
A text whose answered label is another class of the taxonomy is rejected; a text without a
usable answer (the call failed for good, the answer is not JSON even after the re-asks, the
index is missing or out of range, the label is not in the taxonomy) has no verdict and is kept:
the check only ever removes what the teacher explicitly disputes. Unusable answers are logged
and counted (``verification_unanswered``).

Where it sits. ``validate_samples`` is synchronous and gets no teacher, while ``generate``
gets the :class:`~pgkd.fill.pool.TeacherPool`. So the plugin wraps ``generate`` (a pluggy
wrapper: whichever plugin generates, its batch is verified): once the fill returned, it sends
the verification calls, and its ``validate_samples`` turns the verdicts into rejections. The
loop knows nothing of it. Only candidates the built-in checks would accept are asked about:
parsed, label in the taxonomy, length within ``[kd] min_chars``/``max_chars``, not a
duplicate of the history or of an earlier candidate, not a copy of held-out text (the same
rules as :mod:`pgkd.builtin.sample_checks`, applied here because the wrapper runs before them).
A text holding a held-out passage (eight words of a validation or test text) is never put in
a prompt, so it is kept without being asked about.

Accounting. The calls go through the pool's own transport layer
(:class:`~pgkd.fill.sender.RequestSender` with the pool's limits, usage, response cache,
journal writer and rate limit), so they are retried, budget-checked, priced, cached and
journaled like the fill's calls (``teacher_call`` events with ``call_id`` ``s<step>v<i>``,
and a ``call_prompt`` event with each call's prompt before it is sent); a malformed answer is
re-asked up to ``[teacher] max_reasks`` times. Their usage is added to the step's
:class:`~pgkd.fill.pool.Generation` (``metrics.jsonl``'s ``generation``, which also carries
``verification_calls``, ``verification_cached_calls``, ``verified``, ``disagreed`` and
``verification_unanswered``), and so to the run's spend and the cost-aware stopping. Requests
are seeded from the run seed, the step and the call, so a resumed run sends identical
requests and replays their answers from the cache instead of paying twice. A budget that runs
out during verification leaves the rest unverified (kept), and the step ends the run like a
fill that ran out. Batch mode (``[teacher] batch``) is not supported yet: a run that sets it
and enables the check is refused.

``[plugins.options.teacher_verification]``: ``enabled`` (default false), ``texts_per_call``
(16), ``max_tokens`` (answer cap per call; 0, the default, sizes it from the call: 16 tokens
a text plus one per two characters of the longest label, plus 64).
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
import random
from collections.abc import Awaitable, Generator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from pgkd.builtin.plugin_options import plugin_table, read_bool, read_int
from pgkd.builtin.sample_checks import max_chars
from pgkd.errors import BudgetExceeded, ConfigError
from pgkd.fill.answer import MalformedAnswer
from pgkd.fill.call import REASK_NOTE
from pgkd.fill.pool import Generation, TeacherFailed, TeacherPool
from pgkd.fill.sender import RequestSender
from pgkd.fill.usage import UsageTotals
from pgkd.guard import normalize
from pgkd.hookspecs import hookimpl
from pgkd.teachers.base import (
    TeacherError,
    TeacherRequest,
    TeacherUnreachable,
    TransientTeacherError,
)
from pgkd.teachers.secrets import one_line
from pgkd.types import Candidate, Prompt, PromptContents, Rejection, Sample, StepContext

__all__ = [
    "NAME",
    "REASON",
    "TeacherVerification",
    "VerificationOptions",
    "VerifiedGeneration",
    "labelling_prompt",
    "read_verdicts",
    "verdict_schema",
]

log = logging.getLogger("pgkd.teachers")

NAME = "teacher_verification"
REASON = "teacher_disagrees"
#: The property holding the answer's list where the wire needs an object at the root.
VERDICTS_KEY = "labels"

_SYSTEM = (
    "You are a careful annotator. You assign each text you are given to exactly one category "
    "of a fixed list and reply with JSON only."
)


@dataclass(frozen=True, slots=True)
class VerificationOptions:
    enabled: bool = False
    texts_per_call: int = 16
    #: 0: sized from the call (see :meth:`answer_tokens`).
    max_tokens: int = 0

    @classmethod
    def from_settings(cls, settings: object) -> VerificationOptions:
        table = plugin_table(settings, NAME, ("enabled", "texts_per_call", "max_tokens"))
        return cls(
            enabled=read_bool(table, NAME, "enabled", False),
            texts_per_call=read_int(table, NAME, "texts_per_call", 16, low=1),
            max_tokens=read_int(table, NAME, "max_tokens", 0, low=0),
        )

    def answer_tokens(self, n_texts: int, labels: Sequence[str]) -> int:
        """The answer cap of a call about ``n_texts`` texts: ``max_tokens``, or room for one
        ``{"index": i, "label": ...}`` per text with the longest label, and some slack."""
        longest = max((len(label) for label in labels), default=0)
        return self.max_tokens or n_texts * (16 + (longest + 1) // 2) + 64


def labelling_prompt(labels: Sequence[str], texts: Sequence[str]) -> Prompt:
    """The prompt asking the teacher to label ``texts`` (numbered from 1) with one of
    ``labels``; its ``contents.to_label`` carries the texts for teachers that read structure."""
    categories = "\n".join(f"- {label}" for label in labels)
    numbered = "\n".join(
        f"{i}. {json.dumps(text, ensure_ascii=False)}" for i, text in enumerate(texts, start=1)
    )
    user = (
        f"Categories:\n{categories}\n\n"
        f"Texts (numbered, each a JSON string):\n{numbered}\n\n"
        "Decide for every text which single category above fits it best, judging the text "
        "alone. Reply with a JSON list holding one object per text, "
        '[{"index": <the text\'s number>, "label": "<category>"}, ...], writing each category '
        "name exactly as listed."
    )
    contents = PromptContents(labels=tuple(labels), to_label=tuple(texts))
    return Prompt(system=_SYSTEM, user=user, contents=contents)


def verdict_schema(labels: Sequence[str], n_texts: int) -> dict[str, Any]:
    """JSON schema of an answer about ``n_texts`` texts: ``{"labels": [{"index": int,
    "label": one of labels}, ...]}``, one object per text."""
    item = {
        "type": "object",
        "properties": {
            "index": {"type": "integer"},
            "label": {"type": "string", "enum": list(labels)},
        },
        "required": ["index", "label"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            VERDICTS_KEY: {
                "type": "array",
                "minItems": n_texts,
                "maxItems": n_texts,
                "items": item,
            }
        },
        "required": [VERDICTS_KEY],
        "additionalProperties": False,
    }


def read_verdicts(answer: str, labels: Sequence[str], n_texts: int) -> tuple[dict[int, str], int]:
    """The label the answer gives each text (0-based index: label) and how many of its records
    were unusable (index missing, out of range or repeated; label not in ``labels``, compared
    without case). Raises :class:`MalformedAnswer` when the answer as a whole is not a JSON
    list of records (or an object holding one)."""
    body = answer.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rstrip().removesuffix("```")
    try:
        value = json.loads(body, strict=False)
    except ValueError:
        raise MalformedAnswer("not JSON") from None
    if isinstance(value, dict):
        lists = [v for v in value.values() if isinstance(v, list)]
        value = lists[0] if len(lists) == 1 else value
    if not isinstance(value, list):
        raise MalformedAnswer('expected a JSON list of {"index", "label"} objects')
    by_lower = {label.lower(): label for label in labels}
    verdicts: dict[int, str] = {}
    bad = 0
    for record in value:
        index = record.get("index") if isinstance(record, dict) else None
        label = record.get("label") if isinstance(record, dict) else None
        known = by_lower.get(label.strip().lower()) if isinstance(label, str) else None
        position = index - 1 if isinstance(index, int) and not isinstance(index, bool) else -1
        if known is None or not 0 <= position < n_texts or position in verdicts:
            bad += 1
        else:
            verdicts[position] = known
    return verdicts, bad


@dataclass(kw_only=True)
class VerifiedGeneration(Generation):
    """A fill's :class:`Generation` with its verification calls counted in (the usage counters
    hold both) and what they found."""

    verification_calls: int = 0
    verification_cached_calls: int = 0
    #: Candidates asked about, those given a usable label, and those it disputed.
    verification_asked: int = 0
    verified: int = 0
    disagreed: int = 0
    verification_unanswered: int = 0


@dataclass
class _Verdicts:
    candidates: Sequence[Candidate]
    #: Candidate index: the teacher's zero-shot label, for the disputed ones.
    disputed: dict[int, str] = field(default_factory=dict)


def worth_verifying(
    context: StepContext, candidates: Sequence[Candidate]
) -> list[tuple[int, Sample]]:
    """(index, sample) of the candidates the built-in checks would accept and that may be shown
    to the teacher (see the module docstring)."""
    low, high = context.settings.kd.min_chars, max_chars(context)
    seen = {normalize(s.text) for s in context.history}
    out: list[tuple[int, Sample]] = []
    for i, cand in enumerate(candidates):
        sample = cand.sample
        if sample is None or context.task.label_errors(sample, context.labels):
            continue
        norm = normalize(sample.text)
        length = len(sample.text.strip())
        duplicate = norm in seen
        seen.add(norm)
        if duplicate or not low <= length <= high:
            continue
        if context.guard.copy_kind(sample.text) or context.guard.leaks(sample.text):
            continue
        out.append((i, sample))
    return out


class _Verifier:
    """The verification calls of one step, through the pool's transport layer."""

    def __init__(
        self, context: StepContext, pool: TeacherPool, options: VerificationOptions
    ) -> None:
        self.context, self.pool, self.options = context, pool, options
        self.labels = tuple(context.labels)
        template = self._request(labelling_prompt(self.labels, ["x"]), 1, 0)
        self.sender = RequestSender(
            pool.teacher,
            template=template,
            step=context.step,
            limits=pool.limits,
            usage=pool.usage,
            writer=pool.writer,
            cache=pool.cache,
            rate_limit=pool.rate_limit,
            rng=random.Random(_seed(pool.seed, context.step, -1, 0)),
            concurrency=pool.concurrency,
            on_change=lambda: None,
        )
        self.budget: BudgetExceeded | None = None
        self.unanswered = 0

    def _request(self, prompt: Prompt, n_texts: int, seed: int) -> TeacherRequest:
        return TeacherRequest(
            system=prompt.system,
            user=prompt.user,
            schema=verdict_schema(self.labels, n_texts),
            n_samples=n_texts,
            seed=seed,
            temperature=0.0,
            max_tokens=self.options.answer_tokens(n_texts, self.labels),
            contents=prompt.contents,
        )

    async def run(self, texts: Sequence[str]) -> dict[int, str]:
        """The label the teacher gives each text it answered for (by position in ``texts``)."""
        size = self.options.texts_per_call
        chunks = [list(texts[start : start + size]) for start in range(0, len(texts), size)]
        tasks = [asyncio.create_task(self._call(i, chunk)) for i, chunk in enumerate(chunks)]
        try:
            answers = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            await self.pool.writer.drain()
        verdicts: dict[int, str] = {}
        for i, answer in enumerate(answers):
            verdicts.update({i * size + j: label for j, label in answer.items()})
        return verdicts

    async def _call(self, index: int, texts: list[str]) -> dict[int, str]:
        step = self.context.step
        ident = f"s{step}v{index}"
        prompt = labelling_prompt(self.labels, texts)
        self.context.guard.check_prompt(prompt.text)
        self.pool.writer.write_later(
            {
                "event": "call_prompt",
                "step": step,
                "call_id": ident,
                "system": prompt.system,
                "user": prompt.user,
            }
        )
        reason: str | None = None
        for attempt in range(self.pool.limits.max_reasks + 1):
            request = self._request(prompt, len(texts), _seed(self.pool.seed, step, index, attempt))
            if reason is not None:
                request = replace(request, user=request.user + REASK_NOTE.format(reason=reason))
                self.pool.usage.reasks += 1
            try:
                reply = await self.sender.reply(request, ident, attempt)
            except BudgetExceeded as exc:
                self.budget = self.budget or exc
                self.unanswered += len(texts)
                return {}
            except TeacherUnreachable as exc:
                raise TeacherFailed(f"teacher {self.pool.teacher.name}: {exc}") from exc
            except TransientTeacherError as exc:
                log.warning("%s: verification call %s gave up: %s", NAME, ident, one_line(str(exc)))
                self.unanswered += len(texts)
                return {}
            except TeacherError as exc:
                raise TeacherFailed(f"teacher {self.pool.teacher.name}: {exc}") from exc
            try:
                verdicts, bad = read_verdicts(reply.text, self.labels, len(texts))
            except MalformedAnswer as exc:
                reason = str(exc)
                continue
            if bad or len(verdicts) < len(texts):
                log.info(
                    "%s: call %s left %d of %d texts without a usable label; they are kept",
                    NAME,
                    ident,
                    len(texts) - len(verdicts),
                    len(texts),
                )
            self.unanswered += len(texts) - len(verdicts)
            return verdicts
        log.warning(
            "%s: call %s: no usable answer after %d re-asks (%s); its %d texts are kept",
            NAME,
            ident,
            self.pool.limits.max_reasks,
            reason,
            len(texts),
        )
        self.unanswered += len(texts)
        return {}


def _seed(run_seed: int, step: int, index: int, attempt: int) -> int:
    """A verification request's seed: stable across processes (so a resumed run hits the
    cache) and apart from the fill's call seeds."""
    material = f"{run_seed}:{step}:verify:{index}:{attempt}".encode()
    return int.from_bytes(hashlib.blake2b(material, digest_size=4).digest(), "big") & 0x7FFFFFFF


class TeacherVerification:
    """The ``generate`` wrapper that asks, and the ``validate_samples`` check that rejects."""

    def __init__(self) -> None:
        self._verdicts: dict[int, _Verdicts] = {}

    @hookimpl(wrapper=True)
    def generate(
        self, context: StepContext, prompt: Prompt, pool: TeacherPool, n_samples: int
    ) -> Generator[None, Any, Awaitable[Generation] | None]:
        pending: Awaitable[Generation] | None = yield
        options = VerificationOptions.from_settings(context.settings)
        if pending is None or not options.enabled:
            return pending
        if getattr(context.task, "name", None) != "classification":
            return pending
        if pool.batch is not None:
            raise ConfigError(
                f"[plugins.options.{NAME}] enabled = true does not work with [teacher] batch = "
                "true yet; turn one of them off"
            )
        return self._verified(context, pool, options, pending)

    async def _verified(
        self,
        context: StepContext,
        pool: TeacherPool,
        options: VerificationOptions,
        pending: Awaitable[Generation],
    ) -> Generation:
        generation = await pending if inspect.isawaitable(pending) else pending
        before = pool.usage.totals()
        picked = worth_verifying(context, generation.candidates)
        verifier = _Verifier(context, pool, options)
        answered = await verifier.run([s.text for _, s in picked]) if picked else {}
        spent = pool.usage.totals().minus(before)
        disputed = {
            picked[j][0]: label
            for j, label in answered.items()
            if label != str(picked[j][1].target)
        }
        self._verdicts = {context.step: _Verdicts(generation.candidates, disputed)}
        if verifier.budget is not None:
            pool.budget_exhausted = pool.budget_exhausted or verifier.budget
        return _merged(generation, spent, picked, answered, disputed, verifier)

    @hookimpl(trylast=True)
    def validate_samples(
        self, context: StepContext, candidates: Sequence[Candidate]
    ) -> list[Rejection]:
        found = self._verdicts.get(context.step)
        if found is None or found.candidates is not candidates:
            return []
        return [
            Rejection(index, REASON, f"teacher says {label}")
            for index, label in sorted(found.disputed.items())
        ]


def _merged(
    generation: Generation,
    spent: UsageTotals,
    picked: Sequence[tuple[int, Sample]],
    answered: Mapping[int, str],
    disputed: Mapping[int, str],
    verifier: _Verifier,
) -> VerifiedGeneration:
    values = {f.name: getattr(generation, f.name) for f in fields(Generation)}
    for name, value in spent.as_dict().items():
        values[name] = values[name] + value
    values.update(
        verification_calls=spent.calls,
        verification_cached_calls=spent.cached_calls,
        verification_asked=len(picked),
        verified=len(answered),
        disagreed=len(disputed),
        verification_unanswered=verifier.unanswered,
        budget_exhausted=generation.budget_exhausted or verifier.budget is not None,
    )
    return VerifiedGeneration(**values)
