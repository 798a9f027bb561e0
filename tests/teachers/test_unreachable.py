"""Nothing listening at the teacher's address: one line saying "cannot connect to URL", not a
timeout and not a traceback, from every provider through its real SDK and transport."""

from __future__ import annotations

import shutil
import socket
import tomllib
from pathlib import Path

import pytest

from pgkd.commands.cli import main
from pgkd.config import dump_toml
from pgkd.fill.pool import TeacherFailed
from pgkd.teachers.base import TeacherSettings
from pgkd.teachers.registry import provider_class
from tests.teachers import teacher_kit as kit
from tests.teachers.test_compare import finished_run  # noqa: F401 - a module-scoped fixture


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    kit.credentials(monkeypatch)


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("provider", "transport"),
    [
        ("openai", "aiohttp"),  # its SDK reports a refused connection as a connect *timeout*
        ("openai", "httpx"),
        ("anthropic", "aiohttp"),
        ("anthropic", "httpx"),
        ("bedrock", None),
    ],
)
def test_a_closed_port_is_cannot_connect(
    provider: str, transport: str | None, closed_port: int
) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    options = {"http_transport": transport} if transport else {}
    settings = TeacherSettings(
        provider,
        kit.MODELS[provider],
        base_url=url + "/v1" if provider == "openai" else url,
        timeout=5.0,
        options=options,
    )
    teacher = provider_class(provider)(settings)
    pool = kit.make_pool(teacher, max_retries=1, concurrency=2)

    async def fill() -> None:
        try:
            await pool.fill(kit.PROMPT, 16, step=1)
        finally:
            await pool.aclose()

    with pytest.raises(TeacherFailed) as caught:
        kit.run(fill())
    message = str(caught.value)
    assert f"cannot connect to {url}" in message and "nothing is listening" in message
    assert "timed out" not in message and "timeout" not in message
    assert "\n" not in message and "base_url" in message
    assert pool.usage.calls >= 2 and pool.usage.failed_calls == pool.usage.calls  # retried once


def test_compare_against_a_closed_port_is_one_line(
    finished_run: Path,  # noqa: F811
    tmp_path: Path,
    closed_port: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    copy = tmp_path / "run"
    shutil.copytree(finished_run, copy)
    raw = tomllib.loads((copy / "config.toml").read_text(encoding="utf-8"))
    raw["teacher"]["max_retries"] = 1
    (copy / "config.toml").write_text(dump_toml(raw), encoding="utf-8")
    url = f"http://127.0.0.1:{closed_port}/v1"
    args = ["compare", str(copy), "--limit", "3", "--teacher", "openai:gpt-4o-mini"]

    assert main([*args, "--base-url", url]) == 2

    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"cannot connect to {url}" in err and "timed out" not in err
    assert not (copy / "compare.json").exists()
