"""Prompt caching, through the real SDKs against the loopback server: Anthropic requests mark
the prompt with ``cache_control`` (the first call of a prompt, not the calls that overlap it,
every call after it); cache reads and writes come back in ``usage`` and are priced as billed,
for Anthropic and for OpenAI's automatic cache."""

from __future__ import annotations

from typing import Any

import pytest

from pgkd.fill.pricing import price_for
from pgkd.store import JsonlLog, read_jsonl
from pgkd.teachers.anthropic_teacher import EPHEMERAL, PromptCacheLedger
from tests.teachers import teacher_kit as kit
from tests.teachers.loopback import LoopbackServer, Served


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    kit.credentials(monkeypatch)


def marked(served: Served) -> bool:
    user = served.body["messages"][-1]["content"]
    system = served.body["system"]
    if isinstance(user, str):
        assert isinstance(system, str)  # unmarked: the plain form
        return False
    assert user[-1]["cache_control"] == EPHEMERAL and user[-1]["text"] == kit.PROMPT.user
    assert system == [{"type": "text", "text": kit.PROMPT.system, "cache_control": EPHEMERAL}]
    return True


def billed(served: list[Served], rates: tuple[float, float, float, float]) -> float:
    """What the server's own token counts cost at (input, output, read, write) per MTok."""
    inp, out, read, write = rates
    total = 0.0
    for s in served:
        plain = s.input_tokens - s.cache_read - s.cache_write
        total += plain * inp + s.output_tokens * out + s.cache_read * read + s.cache_write * write
    return total / 1e6


def test_anthropic_marks_the_prompt_and_prices_cache_reads_and_writes(tmp_path: Any) -> None:
    journal = JsonlLog(tmp_path / "journal.jsonl", fsync=False)
    with LoopbackServer(prompt_cache=True) as server:
        gen, pool = kit.run(
            kit.fill("anthropic", server, 24, concurrency=1, samples_per_call=8, journal=journal)
        )
    journal.close()
    assert gen.complete and len(server.served) == 3
    assert [marked(s) for s in server.served] == [True, True, True]
    first, *rest = server.served
    assert first.cache_write > 10 and first.cache_read == 0
    assert all(s.cache_read == first.cache_write and s.cache_write == 0 for s in rest)
    # Counted: input tokens include the cached part; reads and writes on their own counters.
    kit.assert_exact_accounting(pool.usage, server)
    assert gen.cache_write_tokens == first.cache_write
    assert gen.cache_read_tokens == 2 * first.cache_write
    # Priced as billed: claude-3-5-haiku lists $0.80 in, $4 out, $0.08 read, $1 write.
    assert gen.cost_usd == pytest.approx(billed(server.served, (0.8, 4.0, 0.08, 1.0)))
    no_cache = price_for(pool.teacher.settings)
    assert no_cache is not None
    assert gen.cost_usd < no_cache.cost(gen.input_tokens, gen.output_tokens)
    events = [e for e in read_jsonl(tmp_path / "journal.jsonl") if e["event"] == "teacher_call"]
    assert [e["cache_read_tokens"] for e in events] == [s.cache_read for s in server.served]
    assert [e["cache_write_tokens"] for e in events] == [s.cache_write for s in server.served]


def test_calls_that_overlap_the_first_one_are_not_marked() -> None:
    """Four calls start together: one writes the cache, the three beside it could not read it
    yet and go unmarked (no write premium); a second fill of the same prompt reads."""
    with LoopbackServer(latency=0.3, prompt_cache=True) as server:
        teacher = kit.make_teacher("anthropic", server)
        pool = kit.make_pool(teacher, concurrency=4, samples_per_call=8)

        async def two_fills() -> None:
            try:
                await pool.fill(kit.PROMPT, 32, step=1)
                await pool.fill(kit.PROMPT, 32, step=2)
            finally:
                await pool.aclose()

        kit.run(two_fills())
    first_wave, second_wave = server.served[:4], server.served[4:]
    assert sum(marked(s) for s in first_wave) == 1
    assert sum(s.cache_write > 0 for s in server.served) == 1
    assert len(second_wave) == 4 and all(marked(s) and s.cache_read for s in second_wave)


def test_prompt_cache_can_be_turned_off() -> None:
    with LoopbackServer(prompt_cache=True) as server:
        gen, _ = kit.run(
            kit.fill(
                "anthropic", server, 16, concurrency=1, teacher_options={"prompt_cache": False}
            )
        )
    assert not any(marked(s) for s in server.served)
    assert gen.cache_read_tokens == gen.cache_write_tokens == 0


def test_a_failed_first_call_hands_the_write_to_the_next() -> None:
    ledger = PromptCacheLedger(size=2)
    assert ledger.claim("a") and not ledger.claim("a")
    ledger.settle("a", ok=False)
    assert ledger.claim("a")
    ledger.settle("a", ok=True)
    assert ledger.claim("a") and ledger.claim("a")
    ledger.claim("b"), ledger.claim("c")  # "a" is the oldest of three: forgotten
    assert ledger.claim("a") and not ledger.claim("a")


def test_openai_cached_prompt_tokens_are_priced_at_the_cached_rate() -> None:
    with LoopbackServer(prompt_cache=True) as server:
        gen, pool = kit.run(kit.fill("openai", server, 24, concurrency=1, samples_per_call=8))
    first, *rest = server.served
    assert first.cache_read == 0 and all(s.cache_read > 10 for s in rest)
    kit.assert_exact_accounting(pool.usage, server)
    assert gen.cache_read_tokens == sum(s.cache_read for s in rest)
    assert gen.cache_write_tokens == 0
    # gpt-4o-mini lists $0.15 in, $0.60 out, $0.075 for cached input.
    assert gen.cost_usd == pytest.approx(billed(server.served, (0.15, 0.60, 0.075, 0.15)))
