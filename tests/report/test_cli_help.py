"""`pgkd --help` documents every command, and every command documents its arguments."""

from __future__ import annotations

import pytest

from pgkd.commands.cli import _parser, main

COMMANDS = ("run", "resume", "report", "predict", "export", "compare", "plugins")


def test_every_command_is_listed_with_a_description(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])

    out = capsys.readouterr().out
    assert done.value.code == 0
    for command in COMMANDS:
        assert f"    {command} " in out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_argument_has_help(command: str) -> None:
    parser = _parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    parser_of = sub.choices[command]  # type: ignore[index]

    undocumented = [a.dest for a in parser_of._actions if a.dest != "help" and not a.help]
    assert undocumented == []
