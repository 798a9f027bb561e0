"""The ner-pool simulation teacher: unseen sentences, entities as mentions, clear failures."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from pgkd import TeacherError, TeacherReply, TeacherRequest, TeacherSettings

from pgkd_ner.simulation import HeldOutNerTeacher
from pgkd_ner.task import NerTask


def ask(teacher: HeldOutNerTeacher, n: int, seed: int) -> TeacherReply:
    request = TeacherRequest(
        system="s", user="u", schema=None, n_samples=n, seed=seed, temperature=0.0, max_tokens=64
    )
    return asyncio.run(teacher.complete(request))


def test_answers_unseen_sentences_with_mentions_that_parse_back(data_dir: Path) -> None:
    teacher = HeldOutNerTeacher(TeacherSettings(provider="ner-pool", model="shipped"))
    lines = (data_dir / "pool.jsonl").read_text().splitlines()
    pool = {record["text"]: record for record in map(json.loads, lines)}
    seen: set[str] = set()
    for seed in range(5):
        records = json.loads(ask(teacher, 8, seed).text)
        assert len(records) == 8
        for record in records:
            assert all(set(e) == {"text", "label"} for e in record["entities"])
            sample = NerTask().parse_record(record, origin="teacher", step=1)
            assert NerTask().to_record(sample) == pool[record["text"]]
            assert record["text"] not in seen
            seen.add(record["text"])
    assert len(teacher.remaining) == 300 - 40


def test_draws_are_seeded(data_dir: Path) -> None:
    settings = TeacherSettings(provider="ner-pool", model=str(data_dir / "pool.jsonl"))
    first, second = HeldOutNerTeacher(settings), HeldOutNerTeacher(settings)
    assert ask(first, 4, 3).text == ask(second, 4, 3).text != ask(first, 4, 3).text


def test_an_exhausted_or_bad_pool_is_a_teacher_error(tmp_path: Path) -> None:
    path = tmp_path / "pool.jsonl"
    path.write_text('{"text": "Paris is big.", "entities": [{"text": "Paris", "label": "LOC"}]}\n')
    teacher = HeldOutNerTeacher(TeacherSettings(provider="ner-pool", model=str(path)))
    with pytest.raises(TeacherError, match="exhausted: 1 unused sentences left for a call asking"):
        ask(teacher, 2, 0)
    path.write_text('{"text": "Paris is big.", "entities": [{"text": "Rome", "label": "LOC"}]}\n')
    with pytest.raises(TeacherError, match=r"pool.jsonl:1: not a NER record \(entities\[0\]"):
        HeldOutNerTeacher(TeacherSettings(provider="ner-pool", model=str(path)))
    with pytest.raises(TeacherError, match="cannot read it"):
        HeldOutNerTeacher(TeacherSettings(provider="ner-pool", model=str(tmp_path / "nope")))
