"""The one run config: a TOML file plus ``--set section.key=value`` overrides, validated.

Errors name the file, the key and the fix, in one line.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from pgkd.errors import ConfigError
from pgkd.presets import DEFAULT_PRESET, PRESETS, strip_preset
from pgkd.presets import apply_preset as fill_in_preset
from pgkd.sources import HUB_PREFIX, DataSource, describe, source_value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TaskConfig(_Section):
    name: str = "classification"


class DataConfig(_Section):
    """``[data]``: where the labelled rows come from (see :mod:`pgkd.sources` for every kind a
    key accepts: files, ``save_to_disk`` folders, ``hf:NAME``, and from Python DataFrames,
    lists of dicts and ``datasets`` data sets) and how they are split."""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, arbitrary_types_allowed=True
    )

    train: DataSource
    validation: DataSource | None = None
    test: DataSource | None = None
    text_field: str = "text"
    label_field: str = "label"
    #: Share of train held out for validation when ``validation`` is not given.
    validation_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    #: Optional share of train held out as a loop-test split that never steers or stops the loop.
    loop_test_fraction: float = Field(0.0, ge=0.0, lt=1.0)
    #: Use exactly this many training rows (drawn stratified with the seed, at least one per
    #: class, so it must not be below the number of classes); 0 means all.
    limit: int = Field(0, ge=0)
    csv_delimiter: str | None = None

    @field_validator("train", "validation", "test", mode="before")
    @classmethod
    def _source(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        return source_value(value, str(info.field_name))

    @field_serializer("train", "validation", "test")
    def _source_text(self, value: DataSource | None) -> str | None:
        return None if value is None else describe(value)


class TeacherConfig(_Section):
    model: str = "local:smollm2"
    base_url: str | None = None
    concurrency: int = Field(4, ge=1, le=1024)
    samples_per_call: int = Field(8, ge=1, le=256)
    temperature: float = Field(0.8, ge=0.0, le=2.0)
    max_tokens: int = Field(2048, ge=16)
    timeout: float = Field(120.0, gt=0)
    max_retries: int = Field(5, ge=0)
    max_reasks: int = Field(2, ge=0)
    max_cost_usd: float | None = Field(None, gt=0)
    max_calls: int | None = Field(None, ge=1)
    requests_per_minute: float | None = Field(None, gt=0)
    tokens_per_minute: float | None = Field(None, gt=0)
    cache: bool = True
    #: Send each KD step's calls as one job of the provider's batch API (OpenAI, Anthropic):
    #: half the price, answers within the provider's window (up to 24 hours) instead of seconds.
    batch: bool = False
    #: Seconds between two reads of a pending batch job's status.
    batch_poll_seconds: float = Field(30.0, gt=0)
    #: Provider-specific settings (``region``, ``profile``, ``endpoint_url``, ``api_key_env``, ...).
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("model")
    @classmethod
    def _provider_and_model(cls, value: str) -> str:
        provider, sep, model = value.partition(":")
        if not sep or not provider or not model:
            raise ValueError(
                "expected 'provider:model' (e.g. 'local:smollm2', 'openai:gpt-4o-mini'), "
                f"got {value!r}"
            )
        return value

    @property
    def provider(self) -> str:
        return self.model.partition(":")[0]

    @property
    def model_name(self) -> str:
        return self.model.partition(":")[2]


class StudentConfig(_Section):
    kind: str = "frozen"
    backbone: str | None = None
    max_length: int = Field(512, ge=8)
    batch_size: int = Field(64, ge=1)
    learning_rate: float = Field(2e-5, gt=0)
    epochs: int = Field(30, ge=1)
    patience: int = Field(5, ge=1)
    threads: int | None = Field(None, ge=1)
    #: Where the student trains and predicts: "auto" (the best device torch sees), "cpu",
    #: "cuda", "cuda:N" or "mps". Checked against the machine when the student is built.
    device: str = "auto"
    #: Autocast: "auto" (CPU fp32, or bf16 with options.bf16; CUDA bf16, else fp16 with a
    #: gradient scaler), "fp32", "bf16" or "fp16".
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("device")
    @classmethod
    def _device_name(cls, value: str) -> str:
        from pgkd.students.device import DEVICE_PATTERN

        if not DEVICE_PATTERN.fullmatch(value):
            raise ValueError('not a device; use "auto", "cpu", "cuda", "cuda:N" or "mps"')
        return value


class KDConfig(_Section):
    #: The named bundle of defaults the other keys start from (:mod:`pgkd.presets`):
    #: "default" (what ships) or "paper" (the paper's method). Keys set explicitly win.
    preset: str = DEFAULT_PRESET
    steps: int = Field(10, ge=0)
    patience: int = Field(5, ge=1)
    #: New samples asked of the teacher per KD step.
    batch_size: int = Field(32, ge=1)
    few_shot: int = Field(16, ge=0)
    correct: int = Field(16, ge=0)
    incorrect: int = Field(16, ge=0)
    hard_negatives: int = Field(16, ge=0)
    min_chars: int = Field(3, ge=1)
    #: Longest accepted sample; "auto" = the longest text of the user's training data, and
    #: at least 2000 characters (a cap on runaway generations, not on texts like the data).
    max_chars: int | Literal["auto"] = "auto"
    #: Word 3-gram Jaccard similarity at or above which a sample counts as a copy of held-out text.
    near_copy_threshold: float = Field(0.8, gt=0.0, le=1.0)
    #: How the history is scored for the correct, incorrect and hard-negative examples:
    #: "out_of_fold" (each sample by a model that did not train on it), "in_sample", or "auto"
    #: (out of fold when the student can do it cheaply, else in sample).
    train_predictions: Literal["auto", "out_of_fold", "in_sample"] = "auto"
    #: Stratified folds of the out-of-fold predictions.
    folds: int = Field(5, ge=2)

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        if value not in PRESETS:
            raise ValueError(f"unknown preset; use one of: {', '.join(PRESETS)}")
        return value

    @field_validator("max_chars", mode="before")
    @classmethod
    def _chars_or_auto(cls, value: Any) -> Any:
        positive = isinstance(value, int) and not isinstance(value, bool) and value > 0
        if value == "auto" or positive:
            return value
        raise ValueError('expected a positive number of characters or "auto"')

    seed: int = 0


class PluginsConfig(_Section):
    disable: list[str] = Field(default_factory=list)
    #: Extra plugins to load by import path: ``"package.module"`` or ``"package.module:Class"``.
    load: list[str] = Field(default_factory=list)
    #: Settings for plugins, one table per plugin name: ``[plugins.options.budget] floor = 1``.
    #: Plugins read ``context.settings.plugins.options.get(name, {})``.
    options: dict[str, dict[str, Any]] = Field(default_factory=dict)


class Config(_Section):
    task: TaskConfig = Field(default_factory=TaskConfig)
    data: DataConfig
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    student: StudentConfig = Field(default_factory=StudentConfig)
    kd: KDConfig = Field(default_factory=KDConfig)
    plugins: PluginsConfig = Field(default_factory=PluginsConfig)

    @model_validator(mode="wrap")
    @classmethod
    def _fill_from_preset(
        cls, data: Any, handler: ModelWrapValidatorHandler[Config], info: ValidationInfo
    ) -> Config:
        """Fill the keys ``data`` leaves out from its ``[kd] preset`` (validation context
        ``{"apply_preset": False}`` skips it: a run directory's config is already resolved)."""
        context = info.context if isinstance(info.context, Mapping) else {}
        if not isinstance(data, Mapping) or not context.get("apply_preset", True):
            return handler(data)
        kd = data.get("kd")
        name = kd.preset if isinstance(kd, KDConfig) else None
        if isinstance(kd, Mapping):
            name = kd.get("preset")
        preset = PRESETS.get(name if isinstance(name, str) else DEFAULT_PRESET)
        if preset is None or not preset.settings:
            return handler(data)
        raw = {
            key: explicit_fields(value) if isinstance(value, _Section) else value
            for key, value in data.items()
        }
        return handler(fill_in_preset(preset, raw))

    def explicit_settings(self) -> dict[str, Any]:
        """The settings given explicitly, as a config's tables: each section's keys that were
        set, without what the preset filled in (so another preset can fill them anew)."""
        raw = {name: explicit_fields(getattr(self, name)) for name in type(self).model_fields}
        return strip_preset(PRESETS[self.kd.preset], raw)

    def to_toml_dict(self) -> dict[str, Any]:
        """The resolved config as plain TOML-able data (paths as strings, Nones dropped)."""
        data: dict[str, Any] = _drop_none(self.model_dump(mode="json"))
        return data


def explicit_fields(section: BaseModel) -> dict[str, Any]:
    """A validated section's keys that were set, with their values as they are (data sources
    stay objects, not text)."""
    return {name: getattr(section, name) for name in section.model_fields_set}


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"kd.steps=3"`` -> (["kd", "steps"], 3). The value is read as TOML, or as a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected section.key=value, e.g. --set kd.steps=3")
    path = [part.strip() for part in key.strip().split(".")]
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return path, value


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    for text in overrides:
        path, value = parse_override(text)
        node = raw
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {text!r}: {part!r} is not a section")
            node = child
        node[path[-1]] = value
    return raw


def resolve_paths(raw: dict[str, Any], base: Path) -> None:
    """Make the ``[data]`` paths of ``raw`` that are relative absolute against ``base``
    (hub references and in-memory data stay as they are)."""
    data = raw.get("data")
    if not isinstance(data, dict):
        return
    for key in ("train", "validation", "test"):
        value = data.get(key)
        if isinstance(value, str) and value.startswith(HUB_PREFIX):
            continue
        if isinstance(value, str | os.PathLike) and str(value):
            path = Path(value)
            if not path.is_absolute():
                data[key] = str((base / path).resolve())


def _format_error(source: str, exc: ValidationError) -> str:
    err = exc.errors()[0]
    key = ".".join(str(part) for part in err["loc"])
    section, _, leaf = key.rpartition(".")
    where = f"[{section}] {leaf}" if section else key
    kind = err["type"]
    if kind == "extra_forbidden":
        fields = _known_keys(err["loc"][:-1])
        hint = f"remove it or use one of: {', '.join(fields)}" if fields else "remove it"
        return f"{source}: unknown key {where}; {hint}"
    if kind == "missing" and not section:
        return f"{source}: the [{leaf}] section is required; add it (e.g. [data] with train = ...)"
    if kind == "missing":
        return f'{source}: {where} is required; add it (e.g. {leaf} = "data/train.jsonl")'
    got = err.get("input")
    return f"{source}: {where}: {err['msg']} (got {got!r}); fix the value"


def _known_keys(loc: Sequence[Any]) -> list[str]:
    model: type[BaseModel] = Config
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return sorted(model.model_fields)


def config_from_mapping(
    raw: Mapping[str, Any], *, source: str = "config", apply_preset: bool = True
) -> Config:
    """Validate ``raw``; keys it leaves out come from its ``[kd] preset`` unless
    ``apply_preset`` is false (a run's saved, already resolved config)."""
    try:
        return Config.model_validate(raw, context={"apply_preset": apply_preset})
    except ValidationError as exc:
        raise ConfigError(_format_error(source, exc)) from None


def load_config(path: Path, overrides: Sequence[str] = (), *, apply_preset: bool = True) -> Config:
    """Read, override and validate a TOML config. Relative data paths resolve against the
    config file's folder. ``apply_preset=False`` reads a resolved config (a run's own) as it is."""
    raw = read_config_file(path, overrides)
    return config_from_mapping(raw, source=str(path), apply_preset=apply_preset)


def read_config_file(path: Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """A TOML config's data with ``overrides`` applied and relative data paths made absolute
    against its folder, not yet validated."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file; check the path") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save the config as UTF-8") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc}); fix the syntax") from None
    raw = apply_overrides(raw, overrides)
    resolve_paths(raw, path.parent)
    return raw


def dump_toml(data: Mapping[str, Any]) -> str:
    """The resolved config as TOML that :func:`tomllib.loads` reads back equal: ``tomli_w`` quotes
    any key (a plugin option named ``a.b`` or ``two words``) and escapes any string (``\\r``,
    control characters), which a hand-written writer got wrong."""
    return tomli_w.dumps(data)
