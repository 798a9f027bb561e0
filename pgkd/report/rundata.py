"""What the report reads from a run directory, in one typed object.

The report only reads files a run already writes (``config.toml``, ``metrics.jsonl``,
``summary.json``, ``journal.jsonl``); it never imports the loop, a student or a teacher, so it
works on a finished run, a run that is still going and a run copied from another machine.

Optional inputs, shown when present:

- ``val_confusion`` on a metrics line: ``{"labels": [...], "cells": [[true, predicted, n], ...]}``
  (sparse; row and column are indices into ``labels``), as :func:`confusion_record` writes it.
  A dense ``"matrix": [[...], ...]`` is read too.
- ``{"event": "prompt", "step": N, "system": ..., "user": ...}`` journal lines, or
  ``teacher_call`` lines holding ``system``/``user``: the prompt each step sent.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson

from pgkd.errors import RunDirError
from pgkd.store import read_jsonl

CONFIG_FILE = "config.toml"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
JOURNAL_FILE = "journal.jsonl"


class HasConfusion(Protocol):
    """An evaluation with its confusion matrix (:class:`pgkd.types.Evaluation`)."""

    @property
    def labels(self) -> tuple[str, ...]: ...

    @property
    def confusion(self) -> tuple[tuple[int, ...], ...]: ...


def confusion_record(evaluation: HasConfusion) -> dict[str, Any]:
    """The sparse form of an evaluation's confusion matrix for a metrics line: labels plus
    ``[true, predicted, count]`` for every non-zero cell (a 335-class matrix of 200 validation
    samples has at most 200 of them)."""
    cells = [
        [i, j, int(n)] for i, row in enumerate(evaluation.confusion) for j, n in enumerate(row) if n
    ]
    return {"labels": list(evaluation.labels), "cells": cells}


@dataclass(frozen=True, slots=True)
class GeneratedSample:
    """One ``sample`` journal line: what the teacher wrote and what validation decided."""

    step: int
    accepted: bool
    reasons: tuple[str, ...]
    text: str
    label: str
    call_id: str = ""
    #: Each rejection's reason key (``"duplicate_of_history"``), in the order of ``reasons``.
    reason_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Confusion:
    labels: tuple[str, ...]
    cells: tuple[tuple[int, int, int], ...]


@dataclass
class RunData:
    """A run directory as the report sees it. ``steps`` holds one metrics line per evaluated
    student, by step (0 is model_0)."""

    path: Path
    config: dict[str, Any]
    steps: dict[int, dict[str, Any]]
    summary: dict[str, Any] | None
    samples: list[GeneratedSample] = field(default_factory=list)
    prompts: dict[int, str] = field(default_factory=dict)

    @property
    def step_numbers(self) -> list[int]:
        return sorted(self.steps)

    @property
    def best_step(self) -> int:
        if self.summary and isinstance(self.summary.get("best_step"), int):
            return int(self.summary["best_step"])
        best = [s for s, line in self.steps.items() if line.get("is_best") or s == 0]
        return max(best) if best else 0

    @property
    def labels(self) -> list[str]:
        """Class names, from the first evaluation that lists per-class scores."""
        for step in self.step_numbers:
            per_class = (self.steps[step].get("val") or {}).get("per_class")
            if isinstance(per_class, Mapping) and per_class:
                return [str(name) for name in per_class]
        return sorted({s.label for s in self.samples})

    def per_class(self, step: int, split: str = "val") -> dict[str, dict[str, float]]:
        block = (self.steps.get(step) or {}).get(split) or {}
        per_class = block.get("per_class") or {}
        return {str(k): dict(v) for k, v in per_class.items() if isinstance(v, Mapping)}

    def confusion(self, step: int) -> Confusion | None:
        raw = (self.steps.get(step) or {}).get("val_confusion")
        if not isinstance(raw, Mapping) or not isinstance(raw.get("labels"), list):
            return None
        labels = tuple(str(label) for label in raw["labels"])
        if isinstance(raw.get("cells"), list):
            cells = tuple((int(i), int(j), int(n)) for i, j, n in raw["cells"])
        else:
            matrix: Sequence[Sequence[int]] = raw.get("matrix") or []
            cells = tuple(
                (i, j, int(n)) for i, row in enumerate(matrix) for j, n in enumerate(row) if n
            )
        return Confusion(labels, cells)


def load_run(run_dir: Path) -> RunData:
    """Read a run directory; a missing ``metrics.jsonl`` is the one fatal problem."""
    run_dir = Path(run_dir)
    metrics_path = run_dir / METRICS_FILE
    if not metrics_path.is_file():
        raise RunDirError(
            f"{run_dir}: no {METRICS_FILE}; point at a pgkd run directory (the --out of pgkd run)"
        )
    steps: dict[int, dict[str, Any]] = {}
    for line in read_jsonl(metrics_path):
        if isinstance(line.get("step"), int):
            steps[int(line["step"])] = line  # a step re-run after a resume keeps its last line
    data = RunData(run_dir, _read_config(run_dir), steps, _read_summary(run_dir))
    _read_journal(run_dir / JOURNAL_FILE, data)
    return data


def _read_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RunDirError(f"{path}: not valid TOML ({exc}); restore the run's config") from None


def _read_summary(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / SUMMARY_FILE
    if not path.is_file():
        return None  # a run still going, or interrupted
    try:
        summary = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise RunDirError(f"{path}: not valid JSON ({exc}); re-run `pgkd resume`") from None
    return summary if isinstance(summary, dict) else None


def _read_journal(path: Path, data: RunData) -> None:
    """Samples of each step's last batch (a step re-run after a resume journals a new batch
    that starts again at index 0) and the prompt of each step."""
    batches: dict[int, list[GeneratedSample]] = {}
    for event in read_jsonl(path):
        kind = event.get("event")
        step = event.get("step")
        if not isinstance(step, int):
            continue
        if kind == "sample":
            if event.get("index") == 0:
                batches[step] = []
            batches.setdefault(step, []).append(_sample(step, event))
        elif kind == "prompt" or (kind == "teacher_call" and step not in data.prompts):
            prompt = _prompt_text(event)
            if prompt:
                data.prompts[step] = prompt  # a step re-run after a resume: its last prompt
    data.samples = [sample for step in sorted(batches) for sample in batches[step]]


def _sample(step: int, event: Mapping[str, Any]) -> GeneratedSample:
    record = event.get("record")
    record = record if isinstance(record, Mapping) else {}
    raw = event.get("reasons")
    reasons = tuple(str(r) for r in raw) if isinstance(raw, list) else ()
    rejections = event.get("rejections")
    if isinstance(rejections, list):
        keys = tuple(str(r.get("reason", "")) for r in rejections if isinstance(r, Mapping))
    else:  # a journal written before rejections were fields: "reason: detail" strings
        keys = tuple(reason.split(":", 1)[0].strip() for reason in reasons)
    return GeneratedSample(
        step=step,
        accepted=bool(event.get("accepted")),
        reasons=reasons,
        text=_as_text(record.get("text")),
        label=_as_text(event.get("stratum") or record.get("label")),
        call_id=str(event.get("call_id") or ""),
        reason_keys=keys,
    )


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _prompt_text(event: Mapping[str, Any]) -> str:
    parts = [event.get(key) for key in ("system", "user")]
    texts = [part for part in parts if isinstance(part, str) and part]
    if texts:
        return "\n\n".join(texts)
    prompt = event.get("prompt")
    return prompt if isinstance(prompt, str) else ""
