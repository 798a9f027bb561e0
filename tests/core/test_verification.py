"""Teacher verification: the teacher labels its own samples zero-shot and the samples it
disputes are rejected; the SIMULATION teacher labels as fallibly as its option says; the calls
are counted, journaled, budgeted and replayed from the cache on resume."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pluggy
import pytest

from pgkd import hookspecs
from pgkd.builtin.verification import (
    NAME,
    REASON,
    TeacherVerification,
    VerifiedGeneration,
    labelling_prompt,
    read_verdicts,
    verdict_schema,
)
from pgkd.config import Config, config_from_mapping
from pgkd.fill.answer import MalformedAnswer
from pgkd.fill.pool import Generation, TeacherPool
from pgkd.hookspecs import hookimpl
from pgkd.report.page import write_report
from pgkd.runner import resume, run
from pgkd.tasks.classification import ClassificationTask
from pgkd.teachers.base import TeacherError, TeacherRequest, TeacherSettings
from pgkd.teachers.simulation import SimulationTeacher, read_pool
from pgkd.types import Candidate, Evaluation, Prompt, Sample, StepContext
from tests.reliability.resume_kit import QUIET, Crash, CrashInStep
from tests.teachers import teacher_kit as kit
from tests.teachers.loopback import LoopbackServer

LABELS = ("billing", "bug", "feature")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def simulation(pool: Path, **options: Any) -> SimulationTeacher:
    return SimulationTeacher(
        TeacherSettings(provider="simulation", model=f"simulation:{pool}", options=options)
    )


def labelling_request(texts: list[str], labels: tuple[str, ...], seed: int) -> TeacherRequest:
    prompt = labelling_prompt(labels, texts)
    return TeacherRequest(
        system=prompt.system,
        user=prompt.user,
        schema=verdict_schema(labels, len(texts)),
        n_samples=len(texts),
        seed=seed,
        temperature=0.0,
        max_tokens=512,
        contents=prompt.contents,
    )


def test_the_simulated_verifier_is_as_accurate_as_its_option(tickets: dict[str, Path]) -> None:
    rows = read_pool(tickets["pool"])
    labels = tuple(sorted({r.label for r in rows}))
    teacher = simulation(tickets["pool"], zero_shot_accuracy=0.6)
    answered: list[tuple[int, str]] = []
    for start in range(0, len(rows), 16):
        chunk = rows[start : start + 16]
        reply = asyncio.run(
            teacher.complete(labelling_request([r.text for r in chunk], labels, start))
        )
        verdicts, bad = read_verdicts(reply.text, labels, len(chunk))
        assert bad == 0 and len(verdicts) == len(chunk)
        answered += [(chunk[j].row, label) for j, label in verdicts.items()]
    assert len(answered) == len(rows) >= 300
    right = sum(rows[row].label == label for row, label in answered)
    assert abs(right / len(rows) - 0.6) < 0.08  # binomial sd at n=330 is 0.027
    assert teacher.space is not None
    for row, label in answered:
        if label != rows[row].label:
            confusable = [
                name for name, _ in teacher.space.confusable(row, rows[row].label, labels)
            ]
            assert label in confusable
    # Labelling hands nothing out, and the same request gets the same answer.
    assert teacher.left == len(rows)
    again = labelling_request([r.text for r in rows[:16]], labels, 0)
    first = asyncio.run(teacher.complete(again)).text
    assert asyncio.run(teacher.complete(again)).text == first


def test_a_text_outside_the_pool_is_read_as_its_nearest_row(tickets: dict[str, Path]) -> None:
    rows = read_pool(tickets["pool"])
    labels = tuple(sorted({r.label for r in rows}))
    teacher = simulation(tickets["pool"], zero_shot_accuracy=1.0)
    edited = rows[5].text + " (sent from my phone)"
    request = labelling_request([edited, "zzqx wvvy"], labels, 0)
    verdicts, bad = read_verdicts(asyncio.run(teacher.complete(request)).text, labels, 2)
    # The edit is answered with its row's label; a text sharing no word with any row, not at
    # all (no verdict: the sample would be kept).
    assert verdicts == {0: rows[5].label} and bad == 0


def test_a_labelling_request_without_the_accuracy_names_the_option(
    tickets: dict[str, Path],
) -> None:
    teacher = simulation(tickets["pool"])
    text = read_pool(tickets["pool"])[0].text
    with pytest.raises(TeacherError, match="zero_shot_accuracy"):
        asyncio.run(teacher.complete(labelling_request([text], LABELS, 0)))


@pytest.mark.parametrize(
    ("answer", "verdicts", "bad"),
    [
        (
            '{"labels": [{"index": 1, "label": "bug"}, {"index": 2, "label": "Billing"}]}',
            {0: "bug", 1: "billing"},
            0,
        ),
        ('[{"index": 2, "label": "refunds"}, {"index": 9, "label": "bug"}, {"index": 1}]', {}, 3),
        (
            '```json\n[{"index": 1, "label": "bug"}, {"index": 1, "label": "feature"}]\n```',
            {0: "bug"},
            1,
        ),
    ],
    ids=["object", "unknown-label-and-index", "fenced-repeat"],
)
def test_verdicts_are_read_robustly(answer: str, verdicts: dict[int, str], bad: int) -> None:
    assert read_verdicts(answer, LABELS, 2) == (verdicts, bad)


@pytest.mark.parametrize("answer", ["Sure, here you go", '{"label": "bug"}', "42"])
def test_an_unusable_answer_is_malformed(answer: str) -> None:
    with pytest.raises(MalformedAnswer):
        read_verdicts(answer, LABELS, 2)


def verify_config(tickets: dict[str, Path], steps: int = 3, **teacher: Any) -> Config:
    return config_from_mapping(
        {
            "data": {"train": str(tickets["train"]), "test": str(tickets["test"])},
            "teacher": {
                "model": f"pool:{tickets['pool']}",
                "concurrency": 2,
                "options": {"label_noise": 0.3, "zero_shot_accuracy": 1.0},
                **teacher,
            },
            "student": {"kind": "frozen", "max_length": 64},
            "kd": {"steps": steps, "patience": 5, "batch_size": 16},
            # Only this check rejects mislabelled samples here (the default's probe filter would
            # reject some of them first), and every call writes from the PGKD prompt.
            "plugins": {
                "options": {
                    "teacher_verification": {"texts_per_call": 6},
                    "confident_disagreement": {"enabled": False},
                    "call_views": {"explore": 0.0},
                }
            },
        }
    )


def enable(config: Config) -> Config:
    config = config.model_copy(deep=True)
    config.plugins.options["teacher_verification"]["enabled"] = True
    return config


def samples(run_dir: Path) -> list[dict[str, Any]]:
    return [e for e in read_jsonl(run_dir / "journal.jsonl") if e["event"] == "sample"]


def test_a_run_rejects_what_the_teacher_disputes_and_counts_the_calls(
    tickets: dict[str, Path], tmp_path: Path
) -> None:
    truth = {r.text: r.label for r in read_pool(tickets["pool"])}
    config = verify_config(tickets)
    plain = run(config, tmp_path / "plain", progress=QUIET, entry_points_enabled=False)
    summary = run(enable(config), tmp_path / "on", progress=QUIET, entry_points_enabled=False)
    # A perfect zero-shot labeller disputes exactly the samples asked about that were written
    # with a noisy label. (Texts sharing eight words with test text are never shown to the
    # teacher, so some are kept unasked: the templated tickets have many.)
    events = samples(tmp_path / "on")
    journal = read_jsonl(tmp_path / "on" / "journal.jsonl")
    prompts = [e for e in journal if e["event"] == "call_prompt" and "v" in e["call_id"]]
    asked = [
        e for e in events if json.dumps(e["record"]["text"]) in str([p["user"] for p in prompts])
    ]
    disputed = [e for e in events if any(r["reason"] == REASON for r in e["rejections"])]
    noisy = [e for e in asked if e["record"]["label"] != truth[e["record"]["text"]]]
    assert noisy and [e["record"] for e in disputed] == [e["record"] for e in noisy]
    # Step 1 wrote what the run without verification wrote (the calls draw nothing from the
    # pool); later steps differ, as their students do.
    first = [e["record"] for e in events if e["step"] == 1]
    assert first == [e["record"] for e in samples(tmp_path / "plain") if e["step"] == 1]
    metrics = read_jsonl(tmp_path / "on" / "metrics.jsonl")[1:]
    verify_calls = sum(m["generation"]["verification_calls"] for m in metrics)
    assert verify_calls >= 3 * 2  # at least 7 texts a step, 6 a call
    assert sum(m["generation"]["disagreed"] for m in metrics) == len(disputed)
    assert sum(m["rejected_by_reason"].get(REASON, 0) for m in metrics) <= len(disputed)
    assert summary["teacher"]["calls"] == plain["teacher"]["calls"] + verify_calls
    assert sum(m["generation"]["calls"] for m in metrics) == summary["teacher"]["calls"]
    verify_events = [e for e in journal if e["event"] == "teacher_call" and "v" in e["call_id"]]
    assert len(verify_events) == verify_calls
    assert len(prompts) == verify_calls and "Categories:" in prompts[0]["user"]
    page = write_report(tmp_path / "on").read_text()
    assert f"include the {verify_calls} calls in which the teacher verified" in page


def test_a_resumed_run_replays_the_verification_from_the_cache(
    tickets: dict[str, Path], tmp_path: Path
) -> None:
    config = enable(verify_config(tickets))
    run(config, tmp_path / "whole", progress=QUIET, entry_points_enabled=False)
    broken = tmp_path / "broken"
    with pytest.raises(Crash):
        run(
            config,
            broken,
            progress=QUIET,
            extra_plugins=[CrashInStep(2)],
            entry_points_enabled=False,
        )
    paid = [
        e["call_id"]
        for e in read_jsonl(broken / "journal.jsonl")
        if e["event"] == "teacher_call" and e["step"] == 2 and "v" in e["call_id"]
    ]
    assert paid
    resume(broken, progress=QUIET, entry_points_enabled=False)
    step2 = [
        e
        for e in read_jsonl(broken / "journal.jsonl")
        if e["event"] == "teacher_call" and e["step"] == 2 and "v" in e["call_id"]
    ]
    assert [e["cached"] for e in step2] == [False] * len(paid) + [True] * len(paid)
    assert [(e["record"], e["accepted"]) for e in samples(broken)][-32:] == [
        (e["record"], e["accepted"]) for e in samples(tmp_path / "whole")
    ][-32:]


def test_the_budget_stops_a_run_that_verifies(tickets: dict[str, Path], tmp_path: Path) -> None:
    # Each step: two fill calls, then two or three verification calls. Five calls run out
    # during step 2's verification or before.
    config = enable(verify_config(tickets, steps=4))
    config.teacher.max_calls = 5
    summary = run(config, tmp_path / "run", progress=QUIET, entry_points_enabled=False)
    assert summary["stopped_early"] and summary["steps_run"] <= 2
    journal = read_jsonl(tmp_path / "run" / "journal.jsonl")
    sent = [e for e in journal if e["event"] == "teacher_call"]
    assert len(sent) == summary["teacher"]["calls"] == 5


class ProseVerifier(SimulationTeacher):
    """Writes like the simulation; answers every labelling request with prose."""

    async def complete(self, request: TeacherRequest) -> Any:
        reply = await super().complete(request)
        if request.contents is not None and request.contents.to_label:
            return type(reply)(text="I think they are all fine.", input_tokens=10, output_tokens=5)
        return reply


class ProseTeachers:
    @hookimpl
    def register_teachers(self, register: Any) -> None:
        register("pool", ProseVerifier)


def test_unusable_verification_answers_keep_the_samples_and_say_so(
    tickets: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = enable(verify_config(tickets, steps=1))
    with caplog.at_level(logging.WARNING, logger="pgkd.teachers"):
        run(
            config,
            tmp_path / "run",
            progress=QUIET,
            extra_plugins=[ProseTeachers()],
            entry_points_enabled=False,
        )
    assert "no usable answer after 2 re-asks" in caplog.text
    events = samples(tmp_path / "run")
    assert not any(r["reason"] == REASON for e in events for r in e["rejections"])
    (metrics,) = read_jsonl(tmp_path / "run" / "metrics.jsonl")[1:]
    generation = metrics["generation"]
    assert generation["verified"] == 0 and generation["disagreed"] == 0
    assert generation["verification_unanswered"] == generation["verification_asked"] > 0
    # Each call was asked three times (two re-asks), all counted.
    assert generation["verification_calls"] == 3 * -(-generation["verification_asked"] // 6)


class FixedBatch:
    """A ``generate`` that hands out a fixed batch (no teacher call)."""

    def __init__(self, candidates: list[Candidate]) -> None:
        self.candidates = candidates

    @hookimpl
    def generate(
        self, context: StepContext, prompt: Prompt, pool: TeacherPool, n_samples: int
    ) -> Any:
        async def done() -> Generation:
            return Generation(candidates=self.candidates, requested=n_samples)

        return done()


SDK_TEXTS = ["I was charged twice", "The app crashes on start", "Please add dark mode"]


def verify_over_sdk(
    provider: str, script: list[str], **pool_options: Any
) -> tuple[Generation, TeacherPool, LoopbackServer, TeacherVerification, StepContext]:
    """One step's verification of :data:`SDK_TEXTS` (and an unparsed candidate) through the
    provider's real SDK, against a loopback server answering ``script``."""
    candidates = [
        Candidate({}, Sample(text, "billing", "teacher", 1), call_id="s1c0") for text in SDK_TEXTS
    ]
    candidates.append(Candidate({"text": "x"}, None, parse_error="no label"))
    settings = config_from_mapping(
        {
            "data": {"train": "unused.jsonl"},
            "plugins": {"options": {"teacher_verification": {"enabled": True}}},
        }
    )
    context = StepContext(
        step=1,
        task=ClassificationTask(),
        labels=LABELS,
        history=[],
        train_predictions=[],
        validation=Evaluation(loss=1.0, metrics={}, per_class={}),
        settings=settings,
        seed=0,
    )
    pm = pluggy.PluginManager("pgkd")
    pm.add_hookspecs(hookspecs)
    plugin = TeacherVerification()
    pm.register(plugin)
    pm.register(FixedBatch(candidates))

    async def go(server: LoopbackServer) -> tuple[Generation, TeacherPool]:
        pool = kit.make_pool(kit.make_teacher(provider, server), **pool_options)
        try:
            pending = pm.hook.generate(context=context, prompt=kit.PROMPT, pool=pool, n_samples=3)
            return await pending, pool
        finally:
            await pool.aclose()

    with LoopbackServer(script=script) as server:
        generation, pool = asyncio.run(go(server))
    return generation, pool, server, plugin, context


@pytest.mark.parametrize("provider", kit.PROVIDERS)
def test_real_provider_sdks_carry_the_verification_request_and_answer(
    monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    kit.credentials(monkeypatch)
    texts = SDK_TEXTS
    # The first answer is prose: the call is re-asked like any malformed answer.
    generation, pool, server, plugin, context = verify_over_sdk(provider, ["malformed"])
    prose, answered = server.served  # one call (the unparsed candidate was not asked about)
    assert prose.fault == "malformed" and answered.fault == "ok"
    body = json.dumps(answered.body)
    assert all(json.dumps(json.dumps(text))[1:-1] in body for text in texts)
    assert "Your previous answer could not be used" in body and '"labels"' in body
    if provider == "openai":
        assert answered.body["temperature"] == 0
    # The loopback labels text i with LABELS[(request + i) % 3]; request 1: bug, feature, billing.
    rejections = plugin.validate_samples(context, generation.candidates)
    assert [(r.index, r.reason, r.detail) for r in rejections] == [
        (0, REASON, "teacher says bug"),
        (1, REASON, "teacher says feature"),
    ]
    assert generation.calls == pool.usage.calls == 2 and generation.reasks == 1
    assert generation.input_tokens == prose.input_tokens + answered.input_tokens > 0
    # Priced like any call: the model has a list price, and both calls were paid for.
    assert generation.cost_usd == pool.usage.cost_usd > 0
    assert isinstance(generation, VerifiedGeneration)
    assert (generation.verification_calls, generation.verified, generation.disagreed) == (2, 3, 2)


def test_a_spent_budget_sends_no_verification_and_keeps_the_samples(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kit.credentials(monkeypatch)
    generation, pool, server, plugin, context = verify_over_sdk("openai", [], max_cost_usd=1e-9)
    assert server.served == [] and pool.usage.calls == 0 and pool.usage.cost_usd == 0
    assert generation.budget_exhausted
    assert plugin.validate_samples(context, generation.candidates) == []


def test_options_are_checked_and_batch_mode_is_refused(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from pgkd.builtin.verification import VerificationOptions
    from pgkd.errors import ConfigError

    def settings(options: dict[str, Any]) -> Config:
        return config_from_mapping(
            {"data": {"train": "unused.jsonl"}, "plugins": {"options": {NAME: options}}}
        )

    with pytest.raises(ConfigError, match=r"teacher_verification\]: unknown key\(s\) every"):
        VerificationOptions.from_settings(settings({"every": 3}))
    with pytest.raises(ConfigError, match="texts_per_call = 0 must be a whole number >= 1"):
        VerificationOptions.from_settings(settings({"texts_per_call": 0}))
    context = SimpleNamespace(settings=settings({"enabled": True}), task=ClassificationTask())
    wrapper = TeacherVerification().generate(
        context,  # type: ignore[arg-type]
        kit.PROMPT,
        SimpleNamespace(batch=object()),  # type: ignore[arg-type]
        8,
    )
    next(wrapper)
    with pytest.raises(ConfigError, match=r"\[teacher\] batch"):
        wrapper.send(object())
