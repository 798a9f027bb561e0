"""Small real students for inference tests: a tiny random-init BERT backbone with the packaged
MiniLM tokenizer, fine-tuned briefly (transformer) or used frozen with a fitted head (frozen),
both saved the way a run saves ``best/``. Built once per session and shared by test folders."""

from __future__ import annotations

import json
from pathlib import Path

from pgkd.students.base import StudentSettings
from pgkd.testing import tiny_bert_backbone
from pgkd.types import Sample

ROOT = Path(__file__).parents[2]
TICKETS = ROOT / "examples" / "support_tickets"


def read_samples(path: Path) -> list[Sample]:
    with open(path, encoding="utf-8") as fh:
        return [Sample(r["text"], r["label"]) for r in map(json.loads, fh)]


def build_students(root: Path) -> dict[str, Path]:
    """``{"transformer": dir, "frozen": dir}``, built under ``root`` unless already there."""
    from pgkd.students.frozen import FrozenEncoderStudent
    from pgkd.students.transformer import TransformerStudent

    dirs = {"transformer": root / "transformer", "frozen": root / "frozen"}
    if all((d / "pgkd_student.json").is_file() for d in dirs.values()):
        return dirs
    backbone = tiny_bert_backbone(root / "backbone")
    train = read_samples(TICKETS / "train.jsonl")
    labels = sorted({s.target for s in train})
    common = {"backbone": str(backbone), "max_length": 64, "batch_size": 32, "patience": 2}
    transformer = TransformerStudent(
        StudentSettings(kind="transformer", learning_rate=1e-3, epochs=1, **common), labels, 0
    )
    transformer.fit(train[:150], train[150:])
    transformer.save(dirs["transformer"])
    frozen = FrozenEncoderStudent(StudentSettings(kind="frozen", **common), labels, 0)
    frozen.fit(train[:150], train[150:])
    frozen.save(dirs["frozen"])
    return dirs
