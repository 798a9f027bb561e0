"""Shared test set-up: offline model loading, no autoloaded entry-point plugins."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Tests never autoload installed plugins; a test that wants one registers it explicitly.
os.environ["PGKD_PLUGINS"] = ""
