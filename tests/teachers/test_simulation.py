"""The SIMULATION teacher: real pool samples, never repeated, classes chosen by strategy from
what the prompt shows."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from pgkd.builtin.validation_report import render_report
from pgkd.config import Config, KDConfig
from pgkd.errors import ConfigError
from pgkd.plugins import build_plugin_manager, build_registry
from pgkd.tasks.classification import ClassificationTask
from pgkd.teachers.base import TeacherError, TeacherRequest, TeacherSettings
from pgkd.teachers.simulation import SimulationTeacher
from pgkd.teachers.simulation_classes import guided_weights, parse_counts, total_variation
from pgkd.teachers.simulation_protocol import SimulationProvider
from pgkd.types import (
    ClassScore,
    Evaluation,
    Example,
    Prompt,
    PromptContents,
    Sample,
    StepContext,
)

LABELS = ("arts", "business", "science", "sports")


def write_pool(path: Path, per_label: int, labels: Sequence[str] = LABELS) -> Path:
    lines = [
        json.dumps({"text": f"{label} story number {i}", "label": label})
        for label in labels
        for i in range(per_label)
    ]
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    return path


def teacher_for(path: Path, **options: Any) -> SimulationTeacher:
    settings = TeacherSettings(provider="simulation", model=f"simulation:{path}", options=options)
    return SimulationTeacher(settings)


def validation_with(f1: Mapping[str, float], support: int = 20) -> Evaluation:
    per_class = {
        label: ClassScore(precision=score, recall=score, f1=score, support=support)
        for label, score in f1.items()
    }
    return Evaluation(loss=1.0, metrics={}, per_class=per_class, labels=tuple(f1))


def contents_with(
    f1: Mapping[str, float], support: int = 20, errors: Sequence[str] = ()
) -> PromptContents:
    """What a prompt shows that holds the validation report with the given F1 and a
    misclassified example of each label in ``errors``."""
    wrong = [Example(Sample(text=f"missed {i}", target=label)) for i, label in enumerate(errors)]
    return PromptContents(
        labels=tuple(f1),
        examples={"incorrect": tuple(wrong)},
        validation=validation_with(f1, support),
    )


def ask(
    teacher: SimulationTeacher,
    n: int,
    seed: int,
    contents: PromptContents | None = None,
    user: str = "write samples",
    schema: Mapping[str, Any] | None = None,
) -> list[dict[str, str]]:
    """``n`` samples for a prompt ``user`` that shows ``contents``."""
    request = TeacherRequest(
        system="you are a teacher",
        user=user,
        schema=schema,
        n_samples=n,
        seed=seed,
        temperature=1.0,
        max_tokens=1000,
        contents=contents,
    )
    reply = asyncio.run(teacher.complete(request))
    records: list[dict[str, str]] = json.loads(reply.text)
    return records


@pytest.mark.parametrize("strategy", ["uniform", "guided", "request"])
def test_no_sample_is_handed_out_twice(tmp_path: Path, strategy: str) -> None:
    teacher = teacher_for(write_pool(tmp_path / "pool.jsonl", per_label=15), strategy=strategy)
    contents = contents_with({"arts": 0.2, "business": 0.5, "science": 0.8, "sports": 0.9})
    texts = [r["text"] for seed in range(12) for r in ask(teacher, 5, seed, contents)]
    assert len(texts) == 60
    assert len(set(texts)) == 60
    assert teacher.left == 0


def test_concurrent_calls_share_no_sample(tmp_path: Path) -> None:
    teacher = teacher_for(write_pool(tmp_path / "pool.jsonl", per_label=10))

    async def many() -> list[str]:
        requests = [
            TeacherRequest("", "go", None, n_samples=4, seed=7, temperature=1, max_tokens=99)
            for _ in range(10)
        ]
        replies = await asyncio.gather(*(teacher.complete(r) for r in requests))
        return [rec["text"] for reply in replies for rec in json.loads(reply.text)]

    texts = asyncio.run(many())
    assert len(texts) == len(set(texts)) == 40


def test_answers_are_real_pool_samples_with_token_estimates(tmp_path: Path) -> None:
    path = write_pool(tmp_path / "pool.jsonl.gz", per_label=5)
    teacher = teacher_for(path, strategy="uniform")
    request = TeacherRequest("s" * 40, "u" * 40, None, 6, 1, 1.0, 100)
    reply = asyncio.run(teacher.complete(request))
    records = json.loads(reply.text)
    assert len(records) == 6
    for record in records:
        assert set(record) == {"text", "label"}
        assert record["text"].startswith(record["label"] + " story")
    assert reply.input_tokens == 20
    assert reply.output_tokens == -(-len(reply.text) // 4)
    assert reply.model == "simulation:pool.jsonl.gz"


def test_guided_draws_more_of_weak_classes(tmp_path: Path) -> None:
    teacher = teacher_for(write_pool(tmp_path / "pool.jsonl", per_label=500))
    contents = contents_with({"arts": 0.3, "business": 0.9, "science": 0.9, "sports": 0.6})
    labels = Counter(r["label"] for seed in range(40) for r in ask(teacher, 8, seed, contents))
    assert labels["arts"] > labels["sports"] > labels["business"]
    assert labels["arts"] > labels["sports"] > labels["science"]
    assert min(labels.values()) > 0  # the floor keeps every class alive


def test_uniform_follows_the_pool(tmp_path: Path) -> None:
    path = tmp_path / "pool.jsonl"
    with path.open("w") as out:
        for i in range(400):
            label = "big" if i % 4 else "small"
            out.write(json.dumps({"text": f"t{i}", "label": label}) + "\n")
    teacher = teacher_for(path, strategy="uniform")
    contents = contents_with({"big": 0.9, "small": 0.1})
    labels = Counter(r["label"] for seed in range(25) for r in ask(teacher, 8, seed, contents))
    assert labels["big"] > 2 * labels["small"] > 0


def test_guided_without_contents_is_uniform(tmp_path: Path) -> None:
    teacher = teacher_for(write_pool(tmp_path / "pool.jsonl", per_label=50))
    labels = Counter(r["label"] for seed in range(20) for r in ask(teacher, 8, seed))
    assert set(labels) == set(LABELS)
    assert max(labels.values()) < 3 * min(labels.values())


def test_same_seeds_give_the_same_answers(tmp_path: Path) -> None:
    path = write_pool(tmp_path / "pool.jsonl", per_label=50)
    contents = contents_with({"arts": 0.3, "business": 0.9, "science": 0.9, "sports": 0.6})
    first = [ask(teacher_for(path), 8, seed, contents) for seed in range(3)]
    second_teacher = teacher_for(path)
    second = [ask(second_teacher, 8, seed, contents) for seed in range(3)]
    assert first[0] == second[0]
    assert first != [ask(teacher_for(path), 8, seed + 100, contents) for seed in range(3)]


def test_request_strategy_honours_counts(tmp_path: Path) -> None:
    teacher = teacher_for(write_pool(tmp_path / "pool.jsonl", per_label=20), strategy="request")
    user = 'Write new samples.\ncounts: {"arts": 3, "sports": 1, "science": 0}\nThanks.'
    records = ask(teacher, 8, 0, user=user)
    assert Counter(r["label"] for r in records) == {"arts": 3, "sports": 1}
    # Without a counts line the request strategy answers like the guided one.
    assert len(ask(teacher, 8, 1, user="Write new samples.")) == 8


def test_parse_counts_rejects_malformed_lines() -> None:
    assert parse_counts("no counts here") is None
    assert parse_counts('  COUNTS: {"a": 2}') == {"a": 2}
    with pytest.raises(TeacherError, match="not `counts: <JSON object>`"):
        parse_counts("counts: {a: 2}")
    with pytest.raises(TeacherError, match="non-negative integer"):
        parse_counts('counts: {"a": -1}')


def test_request_for_more_than_a_class_holds_fails(tmp_path: Path) -> None:
    teacher = teacher_for(write_pool(tmp_path / "pool.jsonl", per_label=2), strategy="request")
    with pytest.raises(TeacherError, match="2 unused samples of label 'arts'"):
        ask(teacher, 3, 0, user='counts: {"arts": 3}')
    with pytest.raises(TeacherError, match="0 unused samples of label 'poetry'"):
        ask(teacher, 1, 0, user='counts: {"poetry": 1}')


def test_exhausted_pool_raises_a_clear_error(tmp_path: Path) -> None:
    teacher = teacher_for(write_pool(tmp_path / "pool.jsonl", per_label=3))
    ask(teacher, 10, 0)
    with pytest.raises(TeacherError, match=r"exhausted: 2 unused samples left for a call asking"):
        ask(teacher, 4, 1)
    assert teacher.left == 2  # a failed call takes nothing
    assert len(ask(teacher, 2, 2)) == 2


def test_answer_is_wrapped_when_the_schema_is_an_object(tmp_path: Path) -> None:
    teacher = teacher_for(write_pool(tmp_path / "pool.jsonl", per_label=5))
    schema = {"type": "object", "properties": {"samples": {"type": "array"}}}
    request = TeacherRequest("", "go", schema, 3, 0, 1.0, 100)
    answer = json.loads(asyncio.run(teacher.complete(request)).text)
    assert list(answer) == ["samples"]
    assert len(answer["samples"]) == 3


def test_guided_weights_shrink_noisy_f1_and_follow_errors() -> None:
    contents = contents_with(
        {"arts": 0.0, "business": 0.8, "science": 0.8, "sports": 0.8}, support=2
    )
    shrunk = guided_weights(contents, LABELS, floor=0.2, error_share=0.2, prior_strength=10)
    raw = guided_weights(contents, LABELS, floor=0.2, error_share=0.2, prior_strength=0)
    assert sum(shrunk.values()) == pytest.approx(1.0)
    assert shrunk["arts"] > shrunk["sports"]
    assert shrunk["arts"] < raw["arts"]  # two validation samples earn little trust
    assert min(raw.values()) >= 0.2 / 4  # the floor

    erring = contents_with(dict.fromkeys(LABELS, 0.5), errors=["science", "science", "arts"])
    weights = guided_weights(erring, LABELS, floor=0.2, error_share=0.2, prior_strength=10)
    assert weights["science"] > weights["arts"] > weights["sports"] == weights["business"]


def test_guidance_strength_moves_more_of_the_batch() -> None:
    contents = contents_with({"arts": 0.2, "business": 0.9, "science": 0.8, "sports": 0.6})
    options: dict[str, float] = {"floor": 0.2, "error_share": 0.2, "prior_strength": 10}
    even = guided_weights(contents, LABELS, **options, strength=0)
    assert list(even.values()) == pytest.approx([0.25] * 4)
    moved = [
        total_variation(guided_weights(contents, LABELS, **options, strength=s))
        for s in (0, 1, 3, 8)
    ]
    assert moved[0] == pytest.approx(0) and moved == sorted(moved) and moved[3] > 2 * moved[1]


def context_with(f1: Mapping[str, float]) -> StepContext:
    validation = validation_with(f1)
    return StepContext(
        step=1,
        task=ClassificationTask(),
        labels=tuple(f1),
        history=[],
        train_predictions=[],
        validation=validation,
        settings=cast(Config, SimpleNamespace(kd=KDConfig())),
        seed=0,
    )


def prompt_contents(context: StepContext, disable: Sequence[str]) -> PromptContents:
    """What the step's prompt shows, as pgkd's built-ins minus ``disable`` build it."""
    pm = build_plugin_manager(disable=list(disable), entry_points_enabled=False)
    for section in reversed(pm.hook.on_eval(context=context)):
        context.report.update(section or {})
    prompt: Prompt = pm.hook.build_prompt(context=context, n_samples=8)
    assert prompt.contents is not None
    return prompt.contents


@pytest.mark.parametrize("disable", [(), ("validation_report",)])
def test_guided_follows_only_a_report_that_reached_the_prompt(
    tmp_path: Path, disable: tuple[str, ...]
) -> None:
    teacher = teacher_for(write_pool(tmp_path / "pool.jsonl", per_label=5))
    context = context_with({"arts": 0.1, "business": 0.9, "science": 0.9, "sports": 0.5})
    shown = prompt_contents(context, disable)
    assert (shown.validation is not None) == (not disable)
    weights = teacher.class_weights(shown)
    assert weights is not None and sum(weights.values()) == pytest.approx(1.0)
    if disable:  # the ablation: the teacher knows no F1, so no class is favoured
        assert len({round(w, 12) for w in weights.values()}) == 1
    else:
        assert weights["arts"] > weights["sports"] > weights["business"] == weights["science"]


def test_a_report_missing_from_the_prompt_does_not_guide(tmp_path: Path) -> None:
    # The step has a validation report, but another prompt plugin left it out of the prompt.
    teacher = teacher_for(write_pool(tmp_path / "pool.jsonl", per_label=500))
    context = context_with({"arts": 0.0, "business": 1.0, "science": 1.0, "sports": 1.0})
    context.report["validation_report"] = render_report(context.validation)
    hidden = PromptContents(labels=context.labels)
    weights = teacher.class_weights(hidden)
    assert weights is not None and weights["arts"] == pytest.approx(weights["sports"])
    shown = teacher.class_weights(PromptContents(context.labels, validation=context.validation))
    assert shown is not None and shown["arts"] > 2 * shown["sports"]


@pytest.mark.parametrize("provider", ["simulation", "pool"])
def test_the_provider_and_its_older_name_build_the_same_teacher(
    tmp_path: Path, provider: str
) -> None:
    path = write_pool(tmp_path / "pool.jsonl", per_label=3)
    registry = build_registry(build_plugin_manager(entry_points_enabled=False))
    settings = TeacherSettings(provider=provider, model=str(path), options={"strategy": "uniform"})
    teacher = registry.teachers[provider](settings)
    assert isinstance(teacher, SimulationTeacher) and isinstance(teacher, SimulationProvider)
    assert teacher.path == path and teacher.left == 12
    assert len(ask(teacher, 4, 0)) == 4


def test_pool_file_errors_name_the_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(TeacherError, match="simulation pool file not found"):
        teacher_for(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine", "label": "a"}\n{"text": "no label"}\n')
    with pytest.raises(TeacherError, match=r"bad\.jsonl:2: needs .*found keys: text"):
        teacher_for(bad)
    with pytest.raises(ConfigError, match=r"options\.strategy: .* \(got 'smart'\)"):
        teacher_for(write_pool(tmp_path / "ok.jsonl", per_label=1), strategy="smart")
    with pytest.raises(ConfigError, match=r"options\.floor: .*less than or equal to 1 \(got 2\)"):
        teacher_for(tmp_path / "ok.jsonl", floor=2)
    with pytest.raises(ConfigError, match=r"options\.writter: not an option .* label_noise"):
        teacher_for(tmp_path / "ok.jsonl", writter="imitate")
    with pytest.raises(ConfigError, match=r"options: floor \+ error_share must be at most 1"):
        teacher_for(tmp_path / "ok.jsonl", floor=0.6, error_share=0.6)


def test_duplicate_texts_in_the_pool_are_kept_once(tmp_path: Path) -> None:
    path = tmp_path / "pool.jsonl"
    path.write_text('{"text": "same", "label": "a"}\n\n{"text": "same", "label": "b"}\n')
    assert teacher_for(path).left == 1
