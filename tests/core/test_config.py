from __future__ import annotations

from pathlib import Path

import pytest

from pgkd.config import dump_toml, load_config
from pgkd.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_papers(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[data]\ntrain = "train.jsonl"\n'))
    assert (config.kd.steps, config.kd.patience, config.kd.batch_size) == (10, 5, 32)
    assert (config.kd.few_shot, config.kd.hard_negatives) == (16, 16)
    assert config.student.learning_rate == 2e-5 and config.student.batch_size == 64
    assert config.data.train == (tmp_path / "train.jsonl").resolve()


def test_overrides_are_typed(tmp_path: Path) -> None:
    path = write(tmp_path, '[data]\ntrain = "t.jsonl"\n')
    config = load_config(
        path, ["kd.steps=3", "teacher.model=openai:gpt-x", "plugins.disable=['hard_negatives']"]
    )
    assert config.kd.steps == 3
    assert config.teacher.provider == "openai" and config.teacher.model_name == "gpt-x"
    assert config.plugins.disable == ["hard_negatives"]


@pytest.mark.parametrize(
    ("text", "overrides", "expected"),
    [
        (
            '[data]\ntrain = "t.jsonl"\n[kd]\nstepz = 3\n',
            [],
            "unknown key [kd] stepz; remove it or use one of: batch_size",
        ),
        (
            '[data]\ntrain = "t.jsonl"\n[kd]\nsteps = "ten"\n',
            [],
            "[kd] steps: Input should be a valid integer",
        ),
        ("[kd]\nsteps = 3\n", [], "the [data] section is required"),
        (
            '[data]\ntrain = "t.jsonl"\n[teacher]\nmodel = "gpt-4"\n',
            [],
            "expected 'provider:model'",
        ),
        ('[data]\ntrain = "t.jsonl"\n', ["kd.patience=0"], "[kd] patience"),
        (
            '[data]\ntrain = "t.jsonl"\n[kd]\nmax_chars = "long"\n',
            [],
            '[kd] max_chars: Value error, expected a positive number of characters or "auto"',
        ),
        ('[data]\ntrain = "t.jsonl"\n[kd\n', [], "invalid TOML"),
        ('[data]\ntrain = "t.jsonl"\n', ["nonsense"], "expected section.key=value"),
    ],
)
def test_errors_name_file_key_and_fix(
    tmp_path: Path, text: str, overrides: list[str], expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    if "--set" not in message:
        assert str(path) in message


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.toml")


def test_resolved_config_round_trips(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, '[data]\ntrain = "t.jsonl"\n[teacher]\noptions = {region = "us-east-1"}\n')
    )
    again = write(tmp_path, dump_toml(config.to_toml_dict()))
    assert load_config(again) == config
