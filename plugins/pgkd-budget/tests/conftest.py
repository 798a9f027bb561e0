"""Offline model loading, and no autoloaded entry-point plugins: a test that wants this plugin
by entry point sets ``PGKD_PLUGINS=budget`` itself."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["PGKD_PLUGINS"] = ""
