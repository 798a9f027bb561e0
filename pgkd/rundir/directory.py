"""The files of one run, and the checks that keep two runs (or a run and changed data) apart."""

from __future__ import annotations

import hashlib
import json
import shutil
import tomllib
from pathlib import Path
from typing import Any

from pgkd.config import Config, config_from_mapping, dump_toml
from pgkd.errors import RunDirError
from pgkd.store import atomic_write_bytes, atomic_write_json, read_jsonl

CONFIG_FILE = "config.toml"
JOURNAL_FILE = "journal.jsonl"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
INPUTS_FILE = "inputs.json"
BEST_DIR = "best"
CACHE_FILE = "cache.sqlite"
EMBEDDINGS_FILE = "embeddings.sqlite"


def fingerprint_inputs(config: Config) -> dict[str, str | None]:
    """SHA-256 of each data file, so a resume can prove it trains on the same data."""
    out: dict[str, str | None] = {}
    for key in ("train", "validation", "test"):
        path = getattr(config.data, key)
        out[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path is not None else None
    return out


def config_diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ, e.g. ``["kd.steps (10 -> 5)"]``."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [d for k in keys for d in config_diff(old.get(k), new.get(k), f"{prefix}{k}.")]
    if old != new:
        return [f"{prefix.rstrip('.')} ({old!r} -> {new!r})"]
    return []


class RunDirectory:
    """The files of one run; see :mod:`pgkd.store` for the layout."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def journal_path(self) -> Path:
        return self.path / JOURNAL_FILE

    @property
    def best_path(self) -> Path:
        return self.path / BEST_DIR

    def check_new(self, *, overwrite: bool) -> None:
        """Refuse to mix two runs in one place (no side effects)."""
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"{self.path}: is a file; pick a folder for --out")
        if self.path.exists() and any(self.path.iterdir()):
            if not self.config_path.exists() and not overwrite:
                raise RunDirError(
                    f"{self.path}: folder is not empty and holds no pgkd run; pick another --out"
                )
            if not overwrite:
                raise RunDirError(
                    f"{self.path}: already holds a run; use `pgkd resume {self.path}` to continue "
                    "it, or pass --overwrite to start over"
                )

    def create(self, config: Config, *, overwrite: bool) -> None:
        """Create the directory for a new run and write its resolved config."""
        self.check_new(overwrite=overwrite)
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.config_path, dump_toml(config.to_toml_dict()).encode())
        atomic_write_json(self.path / INPUTS_FILE, fingerprint_inputs(config))

    def check_resumable(self, config: Config, changed: Config | None) -> None:
        """Refuse to resume when the config or the data files differ from the run's."""
        if changed is not None:
            diff = config_diff(config.to_toml_dict(), changed.to_toml_dict())
            if diff:
                raise RunDirError(
                    f"{self.path}: the config changed since the run started ({', '.join(diff)}); "
                    "resume with the original config or start a new run"
                )
        recorded = self.path / INPUTS_FILE
        if recorded.exists():
            before = json.loads(recorded.read_text(encoding="utf-8"))
            now = fingerprint_inputs(config)
            moved = [key for key in before if before[key] != now.get(key)]
            if moved:
                raise RunDirError(
                    f"{self.path}: data changed since the run started ([data] {', '.join(moved)}); "
                    "restore the original files or start a new run"
                )

    def load_config(self) -> Config:
        if not self.config_path.exists():
            raise RunDirError(f"{self.path}: no {CONFIG_FILE}; this is not a pgkd run directory")
        raw = tomllib.loads(self.config_path.read_text(encoding="utf-8"))
        return config_from_mapping(raw, source=str(self.config_path))

    def metrics(self) -> list[dict[str, Any]]:
        """Metric lines by step; a step journaled twice (a resume) keeps its last line."""
        by_step = {int(r["step"]): r for r in read_jsonl(self.path / METRICS_FILE) if "step" in r}
        return [by_step[s] for s in sorted(by_step)]
