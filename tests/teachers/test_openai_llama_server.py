"""The openai teacher against a real llama.cpp server (``python -m llama_cpp.server``) that runs
the packaged SmolLM2 on 127.0.0.1: schema-constrained answers through the official SDK."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pgkd.teachers.base import TeacherRequest, TeacherSettings

LABELS = ["sports", "politics", "technology"]
READY_WITHIN = 180.0  # seconds; loading takes ~1 s on a quiet machine, far longer on a busy one


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_ready(server: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"llama_cpp.server exited with {server.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/v1/models", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"llama_cpp.server not ready within {READY_WITHIN:.0f} s:\n{log.read_text()}")


@pytest.fixture
def llama_server(tmp_path: Path) -> Iterator[str]:
    # find_spec, not importorskip: the server runs in a subprocess, this process needs no llama.
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (pip install 'pgkd[local]')")
    from pgkd.teachers.local import resolve_model_path

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(resolve_model_path("smollm2")),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", "2048",
        "--n_threads", "2",
        "--logits_all", "false",
    ]  # fmt: skip
    with log.open("wb") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_until_ready(server, url, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.slow
def test_openai_teacher_gets_schema_constrained_samples(llama_server: str) -> None:
    from pgkd.teachers.openai_teacher import OpenAITeacher

    teacher = OpenAITeacher(
        TeacherSettings(
            provider="openai",
            model="smollm2",
            base_url=f"{llama_server}/v1",
            timeout=300.0,
        )
    )
    schema = {
        "type": "array",
        "minItems": 3,
        "maxItems": 3,
        "items": {
            "type": "object",
            "properties": {
                "text": {"type": "string", "minLength": 1, "maxLength": 200},
                "label": {"type": "string", "enum": LABELS},
            },
            "required": ["text", "label"],
        },
    }
    request = TeacherRequest(
        system="You write short news headlines for a text classifier.",
        user=f"Write 3 headlines labelled with one of: {', '.join(LABELS)}, as a JSON list.",
        schema=schema,
        n_samples=3,
        seed=5,
        temperature=0.8,
        max_tokens=400,
    )

    async def call() -> tuple[str, int, int]:
        try:
            reply = await teacher.complete(request)
        finally:
            await teacher.aclose()
        return reply.text, reply.input_tokens, reply.output_tokens

    text, input_tokens, output_tokens = asyncio.run(call())
    records = json.loads(text, strict=False)  # the grammar lets raw newlines into strings
    assert len(records) == 3
    assert all(record["label"] in LABELS and record["text"] for record in records)
    assert input_tokens > 20
    assert output_tokens > 10
