"""Each provider through its real SDK (openai, anthropic, boto3) against a loopback server that
speaks its wire protocol, with every kind of fault the server can inject."""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import time
import urllib.parse
from collections import Counter
from pathlib import Path

import pytest

from pgkd.errors import ConfigError
from pgkd.fill.pricing import price_for
from pgkd.store import JsonlLog, read_jsonl
from pgkd.tasks.classification import ClassificationTask
from pgkd.teachers.anthropic_teacher import AnthropicTeacher
from pgkd.teachers.base import TeacherRequest, TeacherSettings
from pgkd.teachers.bedrock_teacher import BedrockTeacher
from pgkd.teachers.openai_teacher import OpenAITeacher
from tests.teachers import teacher_kit as kit
from tests.teachers.loopback import LoopbackServer

FAULT_MIX = [
    "429",
    "ok",
    "500",
    "malformed",
    "503",
    "truncated",
    "drop",
    "wrong_label",
    "timeout",
    "bad_record",
    "429",
]


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    kit.credentials(monkeypatch)


@pytest.mark.parametrize("provider", kit.PROVIDERS)
def test_every_fault_and_the_batch_is_still_exact(provider: str, tmp_path: Path) -> None:
    max_retries, max_reasks = 3, 2
    journal = JsonlLog(tmp_path / "journal.jsonl", fsync=False)
    with LoopbackServer(latency=0.01, script=FAULT_MIX, retry_after=0.1, hang=3.0) as server:
        gen, pool = kit.run(
            kit.fill(
                provider,
                server,
                48,
                concurrency=4,
                max_retries=max_retries,
                max_reasks=max_reasks,
                journal=journal,
                teacher_options={"timeout": 0.5},
            )
        )
    journal.close()
    assert gen.complete and gen.parsed == 48 and gen.abandoned_calls == 0
    kit.assert_no_loss_or_duplicate(gen, server)
    kit.assert_exact_accounting(pool.usage, server)
    faults = Counter(s.fault for s in server.served)
    transport = sum(faults[f] for f in ("429", "500", "503", "drop", "timeout"))
    assert (gen.retries, gen.reasks) == (transport, faults["malformed"] + faults["truncated"])
    # Attempts within limits, per call, from the journal (one event per request sent).
    events = list(read_jsonl(tmp_path / "journal.jsonl"))
    assert len(events) == len(server.served)
    assert max(e["retry"] for e in events) <= max_retries
    assert max(e["attempt"] for e in events) <= max_reasks
    if provider == "openai":  # its requests carry a seed, so the server can tell calls apart
        assert kit.assert_retry_after_honoured(server) == 2
        assert max(Counter(s.key for s in server.served).values()) <= 1 + max_retries
    price = price_for(pool.teacher.settings)
    assert price is not None
    assert gen.cost_usd == pytest.approx(price.cost(gen.input_tokens, gen.output_tokens))


@pytest.mark.parametrize("provider", kit.PROVIDERS)
def test_retry_after_is_honoured(provider: str) -> None:
    # One call (8 samples), so each request after a 429 is that 429's retry.
    with LoopbackServer(script=["429", "429"], retry_after=0.2) as server:
        gen, _ = kit.run(kit.fill(provider, server, 8, concurrency=1))
    assert gen.parsed == 8 and gen.retries == 2
    served = server.served
    assert [s.fault for s in served] == ["429", "429", "ok"]
    for refused, retry in itertools.pairwise(served):
        assert retry.arrived - refused.answered >= 0.2


def test_openai_request_shape() -> None:
    with LoopbackServer() as server:
        kit.run(kit.fill("openai", server, 8, concurrency=1))
        kit.run(
            kit.fill(
                "openai", server, 8, concurrency=1, teacher_options={"json_mode": "json_schema"}
            )
        )
    local, hosted_mode = server.served[0].body, server.served[1].body
    assert local["model"] == "gpt-4o-mini" and local["max_tokens"] == 1024
    assert [m["role"] for m in local["messages"]] == ["system", "user"]
    assert isinstance(local["seed"], int) and local["temperature"] == 0.8
    # With base_url: the llama.cpp / vLLM form, the task's list schema as is.
    assert local["response_format"]["type"] == "json_object"
    assert local["response_format"]["schema"]["type"] == "array"
    # OpenAI structured outputs need an object at the root: the list is wrapped.
    wrapped = hosted_mode["response_format"]["json_schema"]["schema"]
    assert hosted_mode["response_format"]["type"] == "json_schema"
    assert wrapped["properties"]["samples"]["minItems"] == 8
    assert server.served[0].authorization == f"Bearer {kit.SECRET}"


def test_anthropic_request_shape() -> None:
    with LoopbackServer() as server:
        kit.run(kit.fill("anthropic", server, 8, concurrency=1))
    body = server.served[0].body
    assert body["tool_choice"] == {"type": "tool", "name": "submit_samples"}
    schema = body["tools"][0]["input_schema"]
    assert schema["type"] == "object"
    assert schema["properties"]["samples"]["items"]["properties"]["label"]["enum"] == list(
        kit.LABELS
    )
    # The first call of a prompt marks it for the prompt cache (tests/teachers/test_prompt_cache).
    cached = {"type": "text", "text": kit.PROMPT.system, "cache_control": {"type": "ephemeral"}}
    assert body["system"] == [cached] and body["max_tokens"] == 1024
    assert kit.SECRETS[1] in server.served[0].authorization


def test_bedrock_request_shape() -> None:
    with LoopbackServer() as server:
        kit.run(kit.fill("bedrock", server, 8, concurrency=1))
    body = server.served[0].body
    assert body["toolConfig"]["toolChoice"] == {"tool": {"name": "submit_samples"}}
    assert body["inferenceConfig"] == {"maxTokens": 1024, "temperature": 0.8}
    assert body["system"] == [{"text": kit.PROMPT.system}]
    assert server.served[0].authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIATEST")
    path = urllib.parse.unquote(server.served[0].path)
    assert path == f"/model/{kit.MODELS['bedrock']}/converse"


def test_bedrock_calls_run_in_parallel_off_the_event_loop() -> None:
    gaps: list[float] = []

    async def scenario(server: LoopbackServer) -> tuple[float, int]:
        pool = kit.make_pool(kit.make_teacher("bedrock", server), concurrency=4)
        # One call first, as a run's first step would make: botocore's first call per client
        # does one-off work (endpoint rules, connection set-up) that would stagger the calls
        # measured below on a busy machine.
        await pool.fill(kit.PROMPT, 8, step=0)
        warmed = server.max_in_flight
        server.max_in_flight = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            last = time.perf_counter()
            while not stop.is_set():
                await asyncio.sleep(0.005)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        ticking = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        try:
            gen = await pool.fill(kit.PROMPT, 32, step=1)
        finally:
            stop.set()
            await ticking
            await pool.aclose()
        return gen.seconds, warmed

    with LoopbackServer(latency=0.5) as server:
        wall, warmed = kit.run(scenario(server))
    assert warmed == 1
    # Four calls of 0.5 s each, at once: well under the 2 s they would take one by one.
    assert server.max_in_flight == 4 and wall < 1.5
    # A blocked loop would show one gap of a whole call (0.5 s).
    assert max(gaps) < 0.4  # the loop kept turning while boto3 waited on the network


TRANSPORTS = ["httpx", "aiohttp"]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_http_transports(provider: str, transport: str) -> None:
    if transport == "aiohttp" and importlib.util.find_spec("aiohttp") is None:
        pytest.skip("aiohttp is not installed")
    with LoopbackServer(latency=0.01, script=["500", "drop"]) as server:
        gen, pool = kit.run(
            kit.fill(
                provider,
                server,
                32,
                concurrency=4,
                teacher_options={"http_transport": transport},
            )
        )
    assert gen.parsed == 32
    kit.assert_exact_accounting(pool.usage, server)


def _request() -> TeacherRequest:
    schema = ClassificationTask().answer_schema(4, list(kit.LABELS))
    return TeacherRequest("sys", "user", schema, 4, 11, 0.5, 256)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("json_schema", "json_schema"),
        ("json_object_schema", "json_object"),
        ("json_object", "json_object"),
        ("none", None),
    ],
)
def test_openai_json_modes(mode: str, expected: str | None) -> None:
    teacher = OpenAITeacher(TeacherSettings("openai", "gpt-4o", options={"json_mode": mode}))
    try:
        body = teacher.payload(_request())
    finally:
        kit.run(teacher.aclose())
    assert body.get("response_format", {}).get("type") == expected
    assert body["max_completion_tokens"] == 256 and "max_tokens" not in body
    assert ("schema" in body.get("response_format", {})) == (mode == "json_object_schema")


def test_anthropic_and_bedrock_json_modes() -> None:
    settings = TeacherSettings(
        "anthropic", "claude-sonnet-4", options={"json_mode": "output_config"}
    )
    anthropic_teacher = AnthropicTeacher(settings)
    bedrock = BedrockTeacher(TeacherSettings("bedrock", "m", options={"json_mode": "none"}))
    try:
        body = anthropic_teacher.payload(_request())
        args = bedrock.converse_args(_request())
    finally:
        kit.run(anthropic_teacher.aclose())
        kit.run(bedrock.aclose())
    assert "tools" not in body
    assert body["output_config"]["format"]["schema"]["properties"]["samples"]["maxItems"] == 4
    assert "toolConfig" not in args


def test_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ConfigError, match="no API key; export OPENAI_API_KEY"):
        OpenAITeacher(TeacherSettings("openai", "gpt-4o"))
    with pytest.raises(ConfigError, match="'MY_KEY' is not set"):
        OpenAITeacher(TeacherSettings("openai", "gpt-4o", options={"api_key_env": "MY_KEY"}))
    for provider, cls in (("anthropic", AnthropicTeacher), ("bedrock", BedrockTeacher)):
        with pytest.raises(ConfigError, match=r"options.json_mode: Input should be .*got 'xml'"):
            cls(TeacherSettings(provider, "claude", options={"json_mode": "xml"}))
    with pytest.raises(ConfigError, match=r"options.json_mode: Input should be 'json_schema'"):
        OpenAITeacher(
            TeacherSettings(
                "openai", "m", base_url="http://127.0.0.1:9/v1", options={"json_mode": "xml"}
            )
        )
    with pytest.raises(ConfigError, match=r"options.http_transport: Input should be 'auto'"):
        OpenAITeacher(
            TeacherSettings(
                "openai", "m", base_url="http://127.0.0.1:9/v1", options={"http_transport": "h3"}
            )
        )
    with pytest.raises(ConfigError, match=r"options.concurrency: .*greater than or equal to 1"):
        BedrockTeacher(TeacherSettings("bedrock", "m", options={"concurrency": 0}))
    for provider, cls in (("anthropic", AnthropicTeacher), ("bedrock", BedrockTeacher)):
        with pytest.raises(ConfigError, match=r"options.regoin: not an option of the \w+ provider"):
            cls(TeacherSettings(provider, "claude", options={"regoin": "eu-west-1"}))
