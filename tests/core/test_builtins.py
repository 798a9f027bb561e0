from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from pgkd.builtin.early_stopping import EarlyStopping
from pgkd.builtin.prompt import render_prompt
from pgkd.builtin.sample_checks import (
    AUTO_MAX_CHARS_FLOOR,
    DuplicateFilter,
    LeakageFilter,
    SampleChecks,
    max_chars,
)
from pgkd.builtin.selection import CorrectIncorrectSelector, FewShotSelector, HardNegativeMiner
from pgkd.builtin.validation_report import render_report
from pgkd.config import KDConfig
from pgkd.guard import HeldOutGuard
from pgkd.tasks.classification import ClassificationTask, score_probabilities
from pgkd.types import (
    Candidate,
    Example,
    Prediction,
    Rejection,
    Sample,
    StepContext,
    StepRecord,
)

LABELS = ("billing", "shipping", "returns")


def context(history: list[Sample], preds: list[Prediction], **kd: int) -> StepContext:
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1]], dtype=np.float32)
    evaluation, _ = score_probabilities(probs, ["billing", "shipping", "returns"], LABELS)
    return StepContext(
        step=1,
        task=ClassificationTask(),
        labels=LABELS,
        history=history,
        train_predictions=preds,
        validation=evaluation,
        settings=SimpleNamespace(kd=KDConfig(**kd)),
        seed=0,
        val_losses=(1.0,),
        guard=HeldOutGuard(["a validation message about a late parcel and a refund"]),
    )


def history() -> tuple[list[Sample], list[Prediction]]:
    samples = [Sample(f"text {i}", LABELS[i % 3]) for i in range(30)]
    preds = [
        Prediction(
            LABELS[i % 3] if i % 2 else LABELS[(i + 1) % 3], confidence=i / 30, correct=bool(i % 2)
        )
        for i in range(30)
    ]
    return samples, preds


def test_report_lists_every_class_weakest_first_and_no_samples() -> None:
    ctx = context(*history())
    report = render_report(ctx.validation)
    assert report.index("returns |") < report.index("billing |")
    assert "accuracy 0.667" in report and "loss" in report
    assert "validation message" not in report


def test_selection_counts_and_hard_negatives_are_the_most_confident_mistakes() -> None:
    ctx = context(*history(), few_shot=6, correct=4, incorrect=5, hard_negatives=3)
    few = FewShotSelector().select_examples(ctx)["few_shot"]
    assert len(few) == 6 and {e.sample.target for e in few} == set(LABELS)
    picked = CorrectIncorrectSelector().select_examples(ctx)
    assert len(picked["correct"]) == 4 and all(
        e.prediction and e.prediction.correct for e in picked["correct"]
    )
    assert len(picked["incorrect"]) == 5 and not any(
        e.prediction and e.prediction.correct for e in picked["incorrect"]
    )
    hard = HardNegativeMiner().select_examples(ctx)["hard_negatives"]
    assert [e.sample.text for e in hard] == ["text 28", "text 26", "text 24"]


def test_selection_never_picks_history_that_contains_held_out_text() -> None:
    samples, preds = history()
    samples[28] = Sample("a validation message about a late parcel and a refund", "billing")
    ctx = context(samples, preds, hard_negatives=3)
    hard = HardNegativeMiner().select_examples(ctx)["hard_negatives"]
    assert "text 28" not in [e.sample.text for e in hard]
    assert all("validation message" not in e.sample.text for e in hard)


def test_prompt_sections_follow_what_plugins_supplied() -> None:
    samples, preds = history()
    ctx = context(samples, preds)
    ctx.examples = {
        "few_shot": [Example(samples[0])],
        "hard_negatives": [Example(samples[2], preds[2])],
    }
    ctx.report = {"validation_report": "REPORT"}
    prompt = render_prompt(ctx, 8).user
    assert "REPORT" in prompt and "confident" in prompt and "- billing" in prompt
    assert "Write 8 new training examples" in prompt
    ctx.examples.pop("hard_negatives")
    ctx.report = {}
    bare = render_prompt(ctx, 8).user
    assert "confident" not in bare and "validation set" not in bare


def test_sample_checks_reasons() -> None:
    ctx = context(*history(), min_chars=5, max_chars=60)
    task = ClassificationTask()

    def cand(text: str, label: str) -> Candidate:
        return Candidate(
            {"text": text, "label": label},
            task.parse_record({"text": text, "label": label}, origin="teacher", step=1),
        )

    batch = [
        cand("a fine new message", "billing"),
        cand("a fine new message", "refunds"),
        cand("tiny", "billing"),
        cand("x" * 70, "billing"),
        cand("Text 3", "billing"),
        cand("A fine new message!", "returns"),
        cand("A validation message about a late parcel and a refund", "returns"),
        Candidate({"oops": 1}, None, "missing field(s) text"),
    ]
    reasons = {r.index: r.reason for r in SampleChecks().validate_samples(ctx, batch)}
    assert reasons == {1: "label_outside_taxonomy", 2: "too_short", 3: "too_long"}
    dup = {r.index: r.reason for r in DuplicateFilter().validate_samples(ctx, batch)}
    assert dup == {1: "duplicate_in_batch", 4: "duplicate_of_history", 5: "duplicate_in_batch"}
    leak = {r.index: r.reason for r in LeakageFilter().validate_samples(ctx, batch)}
    assert leak == {6: "exact_copy_of_heldout"}


def test_early_stopping_picks_lowest_loss_and_waits_patience() -> None:
    ctx = context(*history(), patience=2)
    record = StepRecord(1, ctx.validation, None, 0, 0, 0, 0.0, 0)
    stopper = EarlyStopping()
    ctx.val_losses = (1.0, 0.8)
    assert stopper.on_step_end(ctx, record).is_best is True
    ctx.val_losses = (1.0, 0.8, 0.9)
    verdict = stopper.on_step_end(ctx, record)
    assert verdict.is_best is False and not verdict.stop
    ctx.val_losses = (1.0, 0.8, 0.9, 0.85)
    verdict = stopper.on_step_end(ctx, record)
    assert verdict.stop and "patience 2" in verdict.reason


def test_early_stopping_stops_on_an_exhausted_teacher_budget() -> None:
    ctx = context(*history(), patience=2)  # one loss so far: the newest student is the best
    record = StepRecord(1, ctx.validation, None, 0, 0, 0, 0.0, 0)
    spent = StepRecord(1, ctx.validation, None, 0, 0, 0, 0.0, 0, teacher_budget_exhausted=True)
    stopper = EarlyStopping()
    assert not stopper.on_step_end(ctx, record).stop
    verdict = stopper.on_step_end(ctx, spent)
    assert verdict.stop and verdict.is_best is True  # the patience rule still picks the best
    assert verdict.reason == "teacher budget exhausted (max_cost_usd / max_calls)"


def test_auto_max_chars_follows_the_longest_user_text_never_a_teacher_one() -> None:
    samples, preds = history()
    long_seed = Sample("a long customer message " * 150, "billing")  # 3,600 chars
    long_teacher = Sample("z" * 9000, "billing", origin="teacher", step=1)
    ctx = context([*samples, long_seed, long_teacher], [*preds, preds[0], preds[1]])
    assert max_chars(ctx) == len(long_seed.text.strip())
    short = context(*history())
    assert max_chars(short) == AUTO_MAX_CHARS_FLOOR  # short data: the floor
    fixed = context(*history(), max_chars=60)
    assert max_chars(fixed) == 60
    candidate = Candidate({"text": "y" * 3000, "label": "billing"}, Sample("y" * 3000, "billing"))
    assert SampleChecks().validate_samples(ctx, [candidate]) == []
    assert [r.reason for r in SampleChecks().validate_samples(short, [candidate])] == ["too_long"]


def test_duplicate_filter_keeps_its_own_cache_of_the_growing_history() -> None:
    samples, preds = history()
    ctx = context(samples, preds)
    dedup = DuplicateFilter()
    batch = [Candidate({}, Sample("A brand new text", "billing"))]
    assert dedup.validate_samples(ctx, batch) == []
    samples.append(Sample("a brand new TEXT.", "billing", origin="teacher", step=1))
    assert [r.reason for r in dedup.validate_samples(ctx, batch)] == ["duplicate_of_history"]
    assert len(dedup.history_norms(samples)) == len(samples)
    fresh = context(*history())  # another history (another run): the cache starts again
    assert dedup.validate_samples(fresh, batch) == []


def test_a_rejection_reads_as_text_and_journals_as_fields() -> None:
    rejection = Rejection(3, "too_short", "2 chars < 3")
    assert rejection.text == "too_short: 2 chars < 3"
    assert rejection.to_record() == {"reason": "too_short", "detail": "2 chars < 3"}
    assert Rejection(0, "duplicate_of_history").text == "duplicate_of_history"
