"""Set-up shared by the teacher tests: real teachers pointed at the loopback server, pools with
shortened backoff, planted credentials, and the accounting checks."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from pgkd.fill.backoff import Backoff
from pgkd.fill.pool import Generation, TeacherPool
from pgkd.fill.usage import Usage
from pgkd.tasks.classification import ClassificationTask
from pgkd.teachers.base import Teacher, TeacherSettings
from pgkd.teachers.registry import BUILTIN_TEACHERS
from pgkd.types import Prompt
from tests.teachers.loopback import LoopbackServer

T = TypeVar("T")

PROVIDERS = ("openai", "anthropic", "bedrock")
LABELS = ("billing", "bug", "feature")
PROMPT = Prompt(system="You write labelled support tickets.", user="Write new tickets as JSON.")
#: Every wait shortened except the server's Retry-After, which is always honoured.
FAST = Backoff(initial=0.002, maximum=0.01)
SECRET = "sk-test-SECRET123"
SECRETS = (SECRET, "sk-ant-test-SECRET123", "aws-SECRET123-secret-access-key")
MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-3-5-haiku-20241022",
    "bedrock": "anthropic.claude-3-haiku-20240307-v1:0",
}


def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plant fake credentials for all three providers and cut every other credential source."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRETS[1])
    for name in ("ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_PROFILE", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRETS[2])
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def settings(
    provider: str,
    server: LoopbackServer,
    *,
    timeout: float = 5.0,
    max_tokens: int = 1024,
    **options: Any,
) -> TeacherSettings:
    base = server.url + "/v1" if provider == "openai" else server.url
    return TeacherSettings(
        provider=provider,
        model=MODELS[provider],
        base_url=base,
        timeout=timeout,
        max_tokens=max_tokens,
        options={"concurrency": 8, **options},
    )


def make_teacher(provider: str, server: LoopbackServer, **kwargs: Any) -> Teacher:
    module, _, name = BUILTIN_TEACHERS[provider].partition(":")
    cls = getattr(importlib.import_module(module), name)
    teacher: Teacher = cls(settings(provider, server, **kwargs))
    return teacher


def make_pool(teacher: Teacher, **kwargs: Any) -> TeacherPool:
    options: dict[str, Any] = {
        "concurrency": 4,
        "samples_per_call": 8,
        "max_retries": 3,
        "max_reasks": 2,
        "backoff": FAST,
        "seed": 7,
    }
    options.update(kwargs)
    return TeacherPool(teacher, task=ClassificationTask(), labels=LABELS, **options)


async def fill(
    provider: str,
    server: LoopbackServer,
    n_samples: int,
    *,
    teacher_options: dict[str, Any] | None = None,
    step: int = 1,
    **pool_options: Any,
) -> tuple[Generation, TeacherPool]:
    """One fill through a fresh teacher, which is closed afterwards."""
    teacher = make_teacher(provider, server, **(teacher_options or {}))
    pool = make_pool(teacher, **pool_options)
    try:
        return await pool.fill(PROMPT, n_samples, step=step), pool
    finally:
        await pool.aclose()


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def assert_exact_accounting(usage: Usage | Generation, server: LoopbackServer) -> None:
    """The client's counts equal the server's own log."""
    totals = server.totals()
    assert usage.calls == totals["requests"]
    assert usage.failed_calls == totals["errors"]
    assert usage.input_tokens == totals["input_tokens"]
    assert usage.output_tokens == totals["output_tokens"]


def assert_no_loss_or_duplicate(generation: Generation, server: LoopbackServer) -> None:
    """Every parsed candidate is a sample the server delivered, once; none delivered is missing
    unless it was surplus."""
    texts = [c.sample.text for c in generation.candidates if c.sample is not None]
    assert len(texts) == len(set(texts)) == generation.parsed
    delivered = server.delivered_texts()
    assert len(delivered) == len(set(delivered))
    assert set(texts) <= set(delivered)
    assert len(delivered) - len(texts) == generation.surplus


def assert_retry_after_honoured(server: LoopbackServer) -> int:
    """No request was sent before the Retry-After of the 429 that preceded it (same request
    body = same call); returns how many 429s were checked."""
    checked = 0
    for i, refused in enumerate(server.served):
        if refused.status != 429 or refused.retry_after is None:
            continue
        later = [s for s in server.served[i + 1 :] if s.key == refused.key]
        if later:
            assert later[0].arrived - refused.answered >= refused.retry_after
            checked += 1
    return checked
