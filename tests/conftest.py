"""Shared test set-up: offline model loading, no autoloaded entry-point plugins."""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Tests never autoload installed plugins; a test that wants one registers it explicitly.
os.environ["PGKD_PLUGINS"] = ""


ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="session")
def tickets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The bundled demo data plus a disjoint pool of unseen tickets for the simulation teacher,
    and the same pool with every label wrong."""
    sys.path.insert(0, str(ROOT / "examples"))
    from make_support_tickets import INTENTS, _messages

    root = tmp_path_factory.mktemp("tickets")
    rng = random.Random(123)
    labels = sorted(INTENTS)
    train = {
        json.loads(line)["text"]
        for line in (ROOT / "examples/support_tickets/train.jsonl").read_text().splitlines()
    }
    test = {
        json.loads(line)["text"]
        for line in (ROOT / "examples/support_tickets/test.jsonl").read_text().splitlines()
    }
    pool, wrong = [], []
    for label, templates in INTENTS.items():
        for text in _messages(rng, templates, 60):
            if text in train or text in test:
                continue
            pool.append({"text": text, "label": label})
            other = labels[(labels.index(label) + 1) % len(labels)]
            wrong.append({"text": text, "label": other})
    paths = {
        "train": ROOT / "examples/support_tickets/train.jsonl",
        "test": ROOT / "examples/support_tickets/test.jsonl",
        "pool": root / "pool.jsonl",
        "wrong": root / "wrong.jsonl",
    }
    for name, rows in (("pool", pool), ("wrong", wrong)):
        paths[name].write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return paths
