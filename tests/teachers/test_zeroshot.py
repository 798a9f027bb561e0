"""The teacher zero-shot baseline: a scripted in-test teacher, and the real OpenAI SDK against
the loopback server for the retry policy it shares with the teacher pool."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from pgkd.commands.zeroshot import NO_LABEL, label_schema, parse_label, zero_shot_classify
from pgkd.fill.backoff import Backoff
from pgkd.fill.usage import Usage
from pgkd.teachers.base import (
    Teacher,
    TeacherError,
    TeacherReply,
    TeacherRequest,
    TeacherSettings,
    TransientTeacherError,
)
from tests.teachers import teacher_kit as kit
from tests.teachers.loopback import LoopbackServer

LABELS = ["billing", "outage", "feature request"]
T = TypeVar("T")


class ScriptedTeacher(Teacher):
    """Answers each request with ``answer(request)``; records requests and peak concurrency."""

    provider = "scripted"

    def __init__(self, answer: Callable[[TeacherRequest], str]) -> None:
        super().__init__(TeacherSettings(provider="scripted", model="fixed"))
        self.answer = answer
        self.requests: list[TeacherRequest] = []
        self.active = 0
        self.peak = 0

    async def complete(self, request: TeacherRequest) -> TeacherReply:
        self.requests.append(request)
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(0.001)
            return TeacherReply(text=self.answer(request), input_tokens=10, output_tokens=3)
        finally:
            self.active -= 1


def text_of(request: TeacherRequest) -> str:
    return request.user.split("<<<\n", 1)[1].split("\n>>>", 1)[0]


def test_labels_come_back_in_text_order_within_the_concurrency() -> None:
    texts = [
        f"ticket {i}: " + ("my invoice is wrong" if i % 2 else "site is down") for i in range(9)
    ]

    def answer(request: TeacherRequest) -> str:
        label = "billing" if "invoice" in text_of(request) else "outage"
        return json.dumps({"label": label})

    teacher = ScriptedTeacher(answer)
    labels = asyncio.run(zero_shot_classify(teacher, texts, LABELS, concurrency=3))
    assert labels == ["billing" if i % 2 else "outage" for i in range(9)]
    assert teacher.peak == 3
    request = teacher.requests[0]
    assert request.schema == label_schema(LABELS)
    assert request.n_samples == 1
    assert request.temperature == 0.0
    assert all(label in request.user for label in LABELS)
    assert sorted(r.seed for r in teacher.requests) == list(range(9))


def test_fixed_answer_and_unusable_answers() -> None:
    teacher = ScriptedTeacher(lambda request: '{"label": "Feature Request"}')
    assert asyncio.run(zero_shot_classify(teacher, ["a", "b"], LABELS, concurrency=4)) == [
        "feature request",
        "feature request",
    ]
    teacher = ScriptedTeacher(lambda request: '{"label": "refund"}')
    assert asyncio.run(zero_shot_classify(teacher, ["a"], LABELS, concurrency=1)) == [NO_LABEL]
    assert asyncio.run(zero_shot_classify(teacher, [], LABELS, concurrency=2)) == []


def test_parse_label_reads_json_or_a_single_named_label() -> None:
    assert parse_label('{"label": "outage"}', LABELS) == "outage"
    assert parse_label('{"label": "billing"\n}', LABELS) == "billing"
    assert parse_label("I think this is an Outage.", LABELS) == "outage"
    assert parse_label("billing or outage", LABELS) == NO_LABEL
    assert parse_label('{"category": "outage"}', LABELS) == "outage"
    assert parse_label("[1, 2]", LABELS) == NO_LABEL


def test_transient_errors_are_retried_and_permanent_ones_raised() -> None:
    failures = iter([TransientTeacherError("busy", retry_after=0.0)])

    def flaky(request: TeacherRequest) -> str:
        error = next(failures, None)
        if error is not None:
            raise error
        return '{"label": "billing"}'

    teacher = ScriptedTeacher(flaky)
    assert asyncio.run(zero_shot_classify(teacher, ["x"], LABELS, concurrency=1)) == ["billing"]
    assert len(teacher.requests) == 2

    def broken(request: TeacherRequest) -> str:
        raise TeacherError("bad key")

    with pytest.raises(TeacherError, match="bad key"):
        asyncio.run(zero_shot_classify(ScriptedTeacher(broken), ["x", "y"], LABELS, concurrency=2))


def test_bad_arguments() -> None:
    teacher = ScriptedTeacher(lambda request: "{}")
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        asyncio.run(zero_shot_classify(teacher, ["x"], LABELS, concurrency=0))
    with pytest.raises(ValueError, match="at least one label"):
        asyncio.run(zero_shot_classify(teacher, ["x"], [], concurrency=1))


def test_zero_shot_retries_with_the_pools_policy_through_the_real_sdk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 429 then success: retried after the server's Retry-After, counted like the pool's
    retries; out of retries it stops with the transient error."""
    kit.credentials(monkeypatch)
    with LoopbackServer(script=["429"], retry_after=0.3) as server:
        teacher = kit.make_teacher("openai", server)
        usage = Usage()
        labels = kit.run(
            closing(
                teacher,
                zero_shot_classify(
                    teacher, ["the invoice"], LABELS, concurrency=2, backoff=kit.FAST, usage=usage
                ),
            )
        )
    assert labels == [server.served[1].label]
    assert [s.status for s in server.served] == [429, 200]
    assert kit.assert_retry_after_honoured(server) == 1
    assert (usage.calls, usage.failed_calls, usage.retries) == (2, 1, 1)

    with LoopbackServer(script=["429"] * 5, retry_after=0.01) as server:
        teacher = kit.make_teacher("openai", server)
        call = zero_shot_classify(
            teacher, ["x"], LABELS, concurrency=1, max_retries=2, backoff=kit.FAST
        )
        with pytest.raises(TransientTeacherError, match="HTTP 429"):
            kit.run(closing(teacher, call))
    assert len(server.served) == 3  # the first try and max_retries=2 retries


def test_zero_shot_refuses_a_retry_after_beyond_the_pools_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pool does not wait out a server that asks for minutes: neither does zero-shot."""
    kit.credentials(monkeypatch)
    server = LoopbackServer(script=["429"], retry_after=300.0, retry_after_header="Retry-After")
    with server:
        teacher = kit.make_teacher("openai", server)
        policy = Backoff(initial=0.002, maximum=0.01, max_retry_after=5.0)
        call = zero_shot_classify(teacher, ["x"], LABELS, concurrency=1, backoff=policy)
        with pytest.raises(TeacherError, match="asked to wait 300 s, more than max_retry_after"):
            kit.run(closing(teacher, call))
    assert len(server.served) == 1


async def closing(teacher: Teacher, work: Coroutine[Any, Any, T]) -> T:
    try:
        return await work
    finally:
        await teacher.aclose()
