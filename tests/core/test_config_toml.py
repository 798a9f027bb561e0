"""The config a run writes (``config.toml``) reads back equal, whatever its keys and strings."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from pgkd.config import config_from_mapping, dump_toml, load_config

#: Keys and values a hand-written TOML writer gets wrong: dots and spaces in keys (they would
#: become nested tables or a syntax error), an empty key, quotes, control characters.
AWKWARD_OPTIONS = {
    "with.dot": "a.b",
    "two words": "carriage\rreturn",
    "": "empty key",
    'quote"d': 'back\\slash and "quotes"',
    "tab\tkey": "bell\x07 and nul-free\x1f controls, line\nbreaks, unicode é 中",
    "nested": {"deeper.key": [1, 2.5, "x\r\n"], "flag": True},
}


def awkward_config(tmp_path: Path) -> dict[str, object]:
    return {
        "data": {"train": str(tmp_path / "train.jsonl"), "text_field": "body\r"},
        "teacher": {"options": {"api key env": "MY_KEY", "region.name": "eu"}},
        "plugins": {"options": {"my.plugin": AWKWARD_OPTIONS, "budget": {"floor": 1}}},
    }


def test_written_config_reads_back_equal(tmp_path: Path) -> None:
    config = config_from_mapping(awkward_config(tmp_path), source="test")
    data = config.to_toml_dict()
    text = dump_toml(data)
    assert tomllib.loads(text) == data
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    assert load_config(path) == config


@pytest.mark.parametrize(
    "value", ["\r", "a\rb", "\x00\x7f", "'''", '"""', "\\u0041", "#not a comment", "[x]"]
)
def test_any_string_round_trips(value: str) -> None:
    data = {"plugins": {"options": {value: {value: value}}}}
    assert tomllib.loads(dump_toml(data)) == data
