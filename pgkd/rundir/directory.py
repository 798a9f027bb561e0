"""The files of one run, and the checks that keep two runs (or a run and changed data) apart."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from pgkd.config import Config, dump_toml, load_config
from pgkd.errors import RunDirError
from pgkd.presets import preset_comment
from pgkd.rundir.inputs import (
    changed_inputs,
    fingerprint_inputs,
    keep_in_memory_rows,
    relative_to_run,
)
from pgkd.store import atomic_write_bytes, atomic_write_json, read_jsonl

CONFIG_FILE = "config.toml"
JOURNAL_FILE = "journal.jsonl"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
INPUTS_FILE = "inputs.json"
BEST_DIR = "best"
CACHE_FILE = "cache.sqlite"
EMBEDDINGS_FILE = "embeddings.sqlite"


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

    def create(self, config: Config, *, overwrite: bool) -> Config:
        """Create the directory for a new run and write its resolved config and the fingerprint
        of its data; rows given in memory are written into the run first, and the returned
        config (the one saved) points at them."""
        self.check_new(overwrite=overwrite)
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        config = config.model_copy(update={"data": keep_in_memory_rows(config.data, self.path)})
        saved = relative_to_run(config.to_toml_dict(), self.path)
        text = preset_comment(saved) + dump_toml(saved)
        atomic_write_bytes(self.config_path, text.encode())
        atomic_write_json(self.path / INPUTS_FILE, fingerprint_inputs(config.data))
        return config

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
            moved = changed_inputs(json.loads(recorded.read_text(encoding="utf-8")), config.data)
            if moved:
                raise RunDirError(
                    f"{self.path}: data changed since the run started ([data] {', '.join(moved)}); "
                    "restore the original data or start a new run"
                )

    def load_config(self) -> Config:
        """The run's saved config; data paths relative to the run directory (rows it was given
        in memory) resolve against it. It is read as saved, resolved: its preset is not applied
        again, so a later change of what a preset sets does not change a resumed run."""
        if not self.config_path.exists():
            raise RunDirError(f"{self.path}: no {CONFIG_FILE}; this is not a pgkd run directory")
        return load_config(self.config_path, apply_preset=False)

    def metrics(self) -> list[dict[str, Any]]:
        """Metric lines by step; a step journaled twice (a resume) keeps its last line."""
        by_step = {int(r["step"]): r for r in read_jsonl(self.path / METRICS_FILE) if "step" in r}
        return [by_step[s] for s in sorted(by_step)]
