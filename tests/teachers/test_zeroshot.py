"""The teacher zero-shot baseline, with a scripted in-test teacher."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from pgkd.commands.zeroshot import NO_LABEL, label_schema, parse_label, zero_shot_classify
from pgkd.teachers.base import (
    Teacher,
    TeacherError,
    TeacherReply,
    TeacherRequest,
    TeacherSettings,
    TransientTeacherError,
)

LABELS = ["billing", "outage", "feature request"]


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
