"""A hand-written run directory with the shape pgkd runs write: config.toml, metrics.jsonl
(one line per step, step 0 is model_0), summary.json and journal.jsonl."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

EVIL = "<script>alert(1)</script> & <b>bold</b> \"quoted\" 'single'"
REASONS = ("duplicate", "label_outside_taxonomy", "heldout_copy", "too_short")


def _scores(rng: random.Random, labels: list[str], level: float) -> dict[str, Any]:
    per_class = {}
    for label in labels:
        f1 = max(0.0, min(1.0, rng.gauss(level, 0.15)))
        per_class[label] = {"precision": f1, "recall": f1, "f1": f1, "support": rng.randint(1, 9)}
    macro = sum(c["f1"] for c in per_class.values()) / len(labels)
    return {
        "loss": 2.2 - 1.6 * level + rng.uniform(-0.05, 0.05),
        "accuracy": min(1.0, level + 0.03),
        "macro_f1": macro,
        "weighted_f1": macro,
        "per_class": per_class,
    }


def _confusion(rng: random.Random, labels: list[str], level: float) -> dict[str, Any]:
    cells: dict[tuple[int, int], int] = {}
    for i in range(len(labels)):
        for _ in range(6):
            j = i if rng.random() < level else rng.randrange(len(labels))
            cells[(i, j)] = cells.get((i, j), 0) + 1
    return {"labels": labels, "cells": [[i, j, n] for (i, j), n in sorted(cells.items())]}


def write_run(
    root: Path, *, classes: int = 6, steps: int = 4, confusion: bool = True, finished: bool = True
) -> Path:
    """A realistic run directory; the first generated sample's text is :data:`EVIL`."""
    rng = random.Random(classes * 100 + steps)
    labels = (
        sorted(f"class {i:03d}" for i in range(classes))
        if classes > 6
        else [
            "billing",
            "cancel_order",
            "delivery_delay",
            "login_problem",
            "refund",
            "track_order",
        ][:classes]
    )
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.toml").write_text(
        '[data]\ntrain = "train.jsonl"\n\n[teacher]\nmodel = "openai:gpt-4o-mini"\n'
        'samples_per_call = 8\n\n[student]\nkind = "frozen"\n\n'
        '[kd]\npreset = "paper"\nsteps = 4\nbatch_size = 16\n',
        encoding="utf-8",
    )
    metrics, journal = [], []
    best, best_loss = 0, 99.0
    for step in range(steps + 1):
        level = 0.55 + 0.08 * min(step, 3) - 0.03 * max(0, step - 3)
        line: dict[str, Any] = {
            "step": step,
            "val": _scores(rng, labels, level),
            "test": _scores(rng, labels, level - 0.02),
        }
        if confusion:
            line["val_confusion"] = _confusion(rng, labels, level)
        if step:
            line.update(_teacher_step(rng, step, labels, journal))
        if line["val"]["loss"] < best_loss:
            best, best_loss = step, line["val"]["loss"]
            line["is_best"] = True
        metrics.append(line)
    (root / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics), "utf-8")
    (root / "journal.jsonl").write_text("".join(json.dumps(e) + "\n" for e in journal), "utf-8")
    if finished:
        summary = {
            "best_step": best,
            "steps_run": steps,
            "stopped_early": False,
            "stop_reason": "",
            "model_0": {"val": metrics[0]["val"], "test": metrics[0]["test"]},
            "best": {"val": metrics[best]["val"], "test": metrics[best]["test"]},
            "teacher": {
                "calls": 2 * steps,
                "input_tokens": 3000 * steps,
                "output_tokens": 700 * steps,
                "cost_usd": 0.0012 * steps,
            },
            "best_model": str(root / "best"),
        }
        (root / "summary.json").write_text(json.dumps(summary), "utf-8")
    return root


def _teacher_step(
    rng: random.Random, step: int, labels: list[str], journal: list[dict[str, Any]]
) -> dict[str, Any]:
    journal.append(
        {
            "event": "prompt",
            "step": step,
            "system": "You write training data.",
            "user": f"Step {step}: classes {', '.join(labels[:5])}...\n<b>not markup</b>",
        }
    )
    accepted = rejected = 0
    by_reason: dict[str, int] = {}
    for index in range(16):
        label = rng.choice(labels)
        text = EVIL if step == 1 and index == 0 else f"sample {step}-{index} about {label}"
        reasons = [] if rng.random() < 0.75 or index == 0 else [f"{rng.choice(REASONS)}: detail"]
        journal.append(
            {
                "event": "sample",
                "step": step,
                "index": index,
                "call_id": f"c{step}-{index // 8}",
                "accepted": not reasons,
                "reasons": reasons,
                "record": {"text": text, "label": label},
            }
        )
        if reasons:
            rejected += 1
            key = reasons[0].split(":")[0]
            by_reason[key] = by_reason.get(key, 0) + 1
        else:
            accepted += 1
    return {
        "accepted": accepted,
        "rejected": rejected,
        "rejected_by_reason": by_reason,
        "generation": {
            "calls": 2,
            "failed_calls": 0,
            "retries": step % 2,
            "reasks": 0,
            "cached_calls": 0,
            "input_tokens": 3000,
            "output_tokens": 700,
            "cost_usd": 0.0012,
        },
        "seconds": {
            "prepare": 0.01,
            "teacher": 3.2,
            "validation": 0.02,
            "training": 1.1,
            "evaluation": 0.3,
        },
    }
