"""Credentials are sent to the provider and nowhere else: not the journal, not the response
cache, not a log line (every logger at DEBUG), not an error message, even when the server
echoes the key back."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pgkd.fill.cache import ResponseCache
from pgkd.fill.pool import TeacherFailed
from pgkd.store import JsonlLog
from tests.teachers import teacher_kit as kit
from tests.teachers.loopback import LoopbackServer

MARKER = "SECRET123"  # part of every planted credential


def _written(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(tmp_path.iterdir()) if p.is_file())


@pytest.mark.parametrize("provider", kit.PROVIDERS)
def test_credentials_never_reach_disk_or_logs(
    provider: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    kit.credentials(monkeypatch)
    caplog.set_level(logging.DEBUG)
    journal = JsonlLog(tmp_path / "journal.jsonl")
    cache = ResponseCache(tmp_path / "cache.sqlite")
    try:
        with LoopbackServer(script=["429", "500", "malformed"]) as server:
            gen, _ = kit.run(kit.fill(provider, server, 16, journal=journal, cache=cache))
    finally:
        journal.close()
        cache.close()
    assert gen.parsed == 16
    # The credential did go to the server (sigv4 signs with the secret instead of sending it).
    sent = server.served[0].authorization
    assert MARKER in sent if provider != "bedrock" else sent.startswith("AWS4-HMAC-SHA256")
    assert caplog.records, "the SDKs' debug logging was captured"
    assert MARKER not in caplog.text
    assert MARKER.encode() not in _written(tmp_path)


def test_a_key_echoed_by_the_server_is_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    kit.credentials(monkeypatch)
    caplog.set_level(logging.DEBUG)
    journal = JsonlLog(tmp_path / "journal.jsonl")
    server = LoopbackServer(script=["401"])
    try:
        with server, pytest.raises(TeacherFailed) as caught:
            kit.run(kit.fill("openai", server, 8, journal=journal))
    finally:
        journal.close()
    assert MARKER in server.served[0].authorization
    message = str(caught.value)
    assert "HTTP 401" in message and "[redacted]" in message and MARKER not in message
    assert MARKER not in caplog.text
    assert MARKER.encode() not in _written(tmp_path)
