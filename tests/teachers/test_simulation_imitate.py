"""The SIMULATION teacher's writer and label noise, checked against a hand-built pool: it
imitates the prompt's examples of a class, and mislabels a share of samples toward the classes
their text is confusable with."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from pgkd.config import Config, KDConfig
from pgkd.plugins import build_plugin_manager
from pgkd.tasks.classification import ClassificationTask
from pgkd.teachers.base import TeacherRequest, TeacherSettings
from pgkd.teachers.simulation import SimulationTeacher
from pgkd.types import (
    ClassScore,
    Evaluation,
    Example,
    Prediction,
    Prompt,
    PromptContents,
    Sample,
    StepContext,
)

#: Each class writes about three topics; a topic's rows share its words, row i adds its own.
TOPICS = {
    "sports": {
        "football": "football striker scored goal penalty",
        "tennis": "tennis player serve racket match",
        "swimming": "swimmer pool lane freestyle medal",
    },
    "business": {
        "football": "football club shares investors revenue",
        "bank": "bank interest rates loan lending",
        "retail": "retail store sales shoppers discount",
    },
}
ROWS = 12
UNIQUE = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
]  # fmt: skip


def topic_text(words: str, i: int) -> str:
    return f"{words} {UNIQUE[i % len(UNIQUE)]} {UNIQUE[(i * 7 + 3) % len(UNIQUE)]}"


def write_topic_pool(path: Path) -> Path:
    lines = [
        json.dumps({"text": topic_text(words, i), "label": label, "topic": topic})
        for label, topics in TOPICS.items()
        for topic, words in topics.items()
        for i in range(ROWS)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def topic_of(text: str) -> tuple[str, str]:
    for label, topics in TOPICS.items():
        for topic, words in topics.items():
            if text.startswith(words):
                return label, topic
    raise AssertionError(text)


def teacher_for(path: Path, **options: Any) -> SimulationTeacher:
    settings = TeacherSettings(provider="simulation", model=f"simulation:{path}", options=options)
    return SimulationTeacher(settings)


def wrong(text: str, label: str, predicted: str, confidence: float = 0.9) -> Example:
    return Example(Sample(text, label), Prediction(predicted, confidence, correct=False))


def contents_with(**lists: Sequence[Example]) -> PromptContents:
    return PromptContents(labels=tuple(TOPICS), examples={k: tuple(v) for k, v in lists.items()})


def ask(
    teacher: SimulationTeacher,
    n: int,
    seed: int,
    contents: PromptContents | None,
    user: str = "write samples",
) -> list[dict[str, str]]:
    request = TeacherRequest("s", user, None, n, seed, 1.0, 999, contents=contents)
    records: list[dict[str, str]] = json.loads(asyncio.run(teacher.complete(request)).text)
    return records


def counts(label: str, n: int) -> str:
    return f"counts: {json.dumps({label: n})}"


def test_imitate_picks_the_nearest_rows_of_the_asked_class(tmp_path: Path) -> None:
    path = write_topic_pool(tmp_path / "pool.jsonl")
    # The student misses a tennis text: an LLM writes more tennis, not football or swimming,
    # and never a business text, even one sharing words with it.
    shown = contents_with(
        incorrect=[wrong("tennis racket serve at the match", "sports", "business")]
    )
    topics: Counter[tuple[str, str]] = Counter()
    for seed in range(8):
        teacher = teacher_for(path, strategy="request", writer="imitate", nearest=4)
        for record in ask(teacher, 2, seed, shown, user=counts("sports", 2)):
            assert record["label"] == "sports"
            topics[topic_of(record["text"])] += 1
    assert topics == {("sports", "tennis"): 16}


def test_imitate_chooses_at_random_among_the_nearest(tmp_path: Path) -> None:
    path = write_topic_pool(tmp_path / "pool.jsonl")
    shown = contents_with(incorrect=[wrong("swimmer freestyle medal", "sports", "business")])
    first: Counter[str] = Counter()
    for seed in range(30):
        teacher = teacher_for(path, strategy="request", writer="imitate", nearest=5)
        (record,) = ask(teacher, 1, seed, shown, user=counts("sports", 1))
        first[record["text"]] += 1
    # Every pick is a swimming row; several of them come up, never more than the 5 nearest.
    assert {topic_of(text) for text in first} == {("sports", "swimming")}
    assert 2 <= len(first) <= 5
    # Calls of one teacher never repeat a row and keep close to the example while they can.
    teacher = teacher_for(path, strategy="request", writer="imitate", nearest=5)
    texts = [
        r["text"] for seed in range(6) for r in ask(teacher, 2, seed, shown, counts("sports", 2))
    ]
    assert len(set(texts)) == 12
    assert {topic_of(text) for text in texts} == {("sports", "swimming")}


def test_imitate_follows_texts_wrongly_predicted_as_the_class(tmp_path: Path) -> None:
    path = write_topic_pool(tmp_path / "pool.jsonl")
    # A business text about a football club that the student calls sports: for sports the
    # LLM writes football, the class's side of that confusion.
    shown = contents_with(
        hard_negatives=[wrong("football club shares revenue investors", "business", "sports")]
    )
    teacher = teacher_for(path, strategy="request", writer="imitate", nearest=3)
    records = ask(teacher, 3, 0, shown, user=counts("sports", 3))
    assert {topic_of(r["text"]) for r in records} == {("sports", "football")}
    records = ask(teacher, 3, 1, shown, user=counts("business", 3))
    assert {topic_of(r["text"]) for r in records} == {("business", "football")}


def test_imitate_falls_back_to_few_shot_then_to_any_row(tmp_path: Path) -> None:
    path = write_topic_pool(tmp_path / "pool.jsonl")
    few = [Example(Sample("bank loan interest rates", "business"))]
    shown = contents_with(few_shot=few)
    teacher = teacher_for(path, strategy="request", writer="imitate", nearest=3)
    records = ask(teacher, 3, 0, shown, user=counts("business", 3))
    assert {topic_of(r["text"]) for r in records} == {("business", "bank")}
    # No example of sports at all: written from the label alone, any unused row.
    topics = {topic_of(r["text"])[1] for r in ask(teacher, 24, 1, shown, counts("sports", 24))}
    assert len(topics) == 3


def step_contents(context: StepContext, disable: Sequence[str]) -> PromptContents:
    """What the step's prompt shows, as pgkd's built-ins minus ``disable`` build it."""
    pm = build_plugin_manager(disable=list(disable), entry_points_enabled=False)
    for section in reversed(pm.hook.on_eval(context=context)):
        context.report.update(section or {})
    for picked in reversed(pm.hook.select_examples(context=context)):
        context.examples.update(picked or {})
    prompt: Prompt = pm.hook.build_prompt(context=context, n_samples=8)
    assert prompt.contents is not None
    return prompt.contents


def selection_context() -> StepContext:
    """A step whose history holds a confident sports miss about tennis and a sports text about
    swimming that the student gets right."""
    history = [
        Sample("tennis racket serve match point", "sports"),
        Sample("swimmer lane freestyle", "sports"),
        Sample("retail store discount shoppers", "business"),
    ]
    predictions = [
        Prediction("business", 0.95, correct=False),
        Prediction("sports", 0.8, correct=True),
        Prediction("business", 0.9, correct=True),
    ]
    per_class = {label: ClassScore(0.5, 0.5, 0.5, 10) for label in TOPICS}
    return StepContext(
        step=1,
        task=ClassificationTask(),
        labels=tuple(TOPICS),
        history=history,
        train_predictions=predictions,
        validation=Evaluation(1.0, {}, per_class, tuple(TOPICS)),
        settings=cast(Config, SimpleNamespace(kd=KDConfig())),
        seed=0,
    )


def sports_topics(path: Path, shown: PromptContents) -> set[str]:
    topics: set[str] = set()
    for seed in range(10):
        teacher = teacher_for(path, strategy="request", writer="imitate", nearest=3)
        topics |= {
            topic_of(r["text"])[1] for r in ask(teacher, 4, seed, shown, counts("sports", 4))
        }
    return topics


def test_disabling_a_list_changes_what_it_imitates(tmp_path: Path) -> None:
    path = write_topic_pool(tmp_path / "pool.jsonl")
    # Only the hard negatives show the tennis miss: imitated.
    with_hard = step_contents(selection_context(), ("correct_incorrect",))
    assert [e.sample.text for e in with_hard.examples["hard_negatives"]] == [
        "tennis racket serve match point"
    ]
    assert sports_topics(path, with_hard) == {"tennis"}
    # Without them the prompt shows no error: the few-shot examples of sports are imitated.
    without = step_contents(selection_context(), ("correct_incorrect", "hard_negatives"))
    assert "hard_negatives" not in without.examples
    assert sports_topics(path, without) == {"tennis", "swimming"}


def write_confusable_pool(path: Path, per_label: int = 300) -> Path:
    """Three classes: ``cats`` and ``dogs`` share their words, ``stocks`` shares none."""
    words = {
        "cats": "pet fur paws vet whiskers",
        "dogs": "pet fur paws vet leash",
        "stocks": "market trading shares index bonds",
    }
    lines = [
        json.dumps({"text": f"{text} item{i} {label}{i}", "label": label})
        for label, text in words.items()
        for i in range(per_label)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("writer", ["random", "imitate"])
def test_label_noise_rate_and_where_wrong_labels_go(tmp_path: Path, writer: str) -> None:
    path = write_confusable_pool(tmp_path / "pool.jsonl")
    teacher = teacher_for(path, strategy="request", writer=writer, label_noise=0.25)
    shown = PromptContents(labels=("cats", "dogs", "stocks"))
    written: Counter[tuple[str, str]] = Counter()
    for seed in range(25):
        for record in ask(teacher, 8, seed, shown, user=counts("cats", 8)):
            written[(record["text"].split()[-1].rstrip("0123456789"), record["label"])] += 1
    assert sum(written.values()) == 200
    wrong_labels = {key: n for key, n in written.items() if key[0] != key[1]}
    rate = sum(wrong_labels.values()) / 200
    assert 0.15 <= rate <= 0.35  # 0.25 ± 3.3 binomial standard deviations
    # Every wrong label is the confusable class, never the unrelated one.
    assert set(wrong_labels) == {("cats", "dogs")}


def test_no_noise_by_default_and_noise_is_seeded(tmp_path: Path) -> None:
    path = write_confusable_pool(tmp_path / "pool.jsonl", per_label=40)
    clean = teacher_for(path, strategy="uniform")
    assert all(r["label"] in r["text"] for seed in range(5) for r in ask(clean, 8, seed, None))
    noisy = [ask(teacher_for(path, label_noise=0.5), 8, 3, None) for _ in range(2)]
    assert noisy[0] == noisy[1]


def test_restore_continues_exactly_with_imitation_and_noise(tmp_path: Path) -> None:
    path = write_topic_pool(tmp_path / "pool.jsonl")
    options: Mapping[str, Any] = {"writer": "imitate", "label_noise": 0.3, "nearest": 4}
    shown = contents_with(incorrect=[wrong("tennis racket serve", "sports", "business")])
    whole = teacher_for(path, **options)
    answers = [
        asyncio.run(
            whole.complete(TeacherRequest("s", "u", None, 6, seed, 1.0, 99, contents=shown))
        )
        for seed in range(4)
    ]
    resumed = teacher_for(path, **options)
    resumed.restore([reply.text for reply in answers])
    assert resumed.left == whole.left == 3 * 2 * ROWS - 24
    for seed in range(4, 8):
        assert ask(resumed, 6, seed, shown) == ask(whole, 6, seed, shown)
