"""Unit tests of the pieces under the teacher pool: answer parsing, prices, budget, backoff,
Retry-After parsing, rate limiting, the response cache, redaction."""

from __future__ import annotations

import asyncio
import email.utils
import random
import socket
import sqlite3
import time
from pathlib import Path

import pytest

from pgkd.errors import BudgetExceeded, ConfigError
from pgkd.fill.answer import MalformedAnswer, parse_answer, to_candidates
from pgkd.fill.backoff import Backoff
from pgkd.fill.cache import ResponseCache, request_key
from pgkd.fill.call import attempt_seed
from pgkd.fill.pricing import Price, price_for
from pgkd.fill.ratelimit import RateLimit
from pgkd.fill.slots import RequestSlots
from pgkd.fill.usage import Usage
from pgkd.tasks.classification import ClassificationTask
from pgkd.teachers import prices
from pgkd.teachers.answer_format import object_schema
from pgkd.teachers.base import TeacherReply, TeacherRequest, TeacherSettings
from pgkd.teachers.failures import retry_after
from pgkd.teachers.prices import list_price
from pgkd.teachers.secrets import REDACTED, redact


@pytest.mark.parametrize(
    "text",
    [
        '[{"text": "a", "label": "x"}]',
        '{"samples": [{"text": "a", "label": "x"}]}',
        '```json\n[{"text": "a", "label": "x"}]\n```',
        '[{"text": "line one\nline two", "label": "x"}]',  # raw newline: a grammar's output
    ],
)
def test_answers_that_parse(text: str) -> None:
    records = parse_answer(text)
    assert len(records) == 1 and records[0]["label"] == "x"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Sure! Here you go.", "not JSON"),
        ('[{"text": "a", "lab', "not JSON"),
        ('{"examples": []}', "expected a JSON list"),
        ("42", "expected a JSON list"),
        ("[]", "no samples"),
        ("", "empty"),
    ],
)
def test_malformed_answers(text: str, reason: str) -> None:
    with pytest.raises(MalformedAnswer, match=reason):
        parse_answer(text)


def test_records_that_do_not_fit_become_unparsable_candidates() -> None:
    records = [{"text": "ok", "label": "x"}, {"text": "no label"}, "a string"]
    parsed, bad = to_candidates(records, ClassificationTask(), step=3, call_id="s3c0")
    assert [c.sample.text for c in parsed if c.sample] == ["ok"]
    assert parsed[0].sample is not None and parsed[0].sample.origin == "teacher"
    assert parsed[0].sample.step == 3 and parsed[0].call_id == "s3c0"
    assert [c.sample for c in bad] == [None, None]
    assert "missing field(s) label" in (bad[0].parse_error or "")
    assert "not a JSON object" in (bad[1].parse_error or "")


def test_object_schema_wraps_a_list_schema() -> None:
    schema = ClassificationTask().answer_schema(4, ["x", "y"])
    wrapped = object_schema(schema)
    assert wrapped["type"] == "object" and wrapped["properties"]["samples"] == schema
    assert object_schema(wrapped) == wrapped


@pytest.mark.parametrize(
    ("provider", "model", "rates"),
    [
        ("openai", "gpt-4o-mini", (0.15, 0.60)),
        ("openai", "gpt-4o-2024-08-06", (2.50, 10.00)),
        ("openai", "gpt-4o-mini-2024-07-18", (0.15, 0.60)),
        ("anthropic", "claude-3-5-sonnet-20241022", (3.0, 15.0)),
        ("anthropic", "claude-3-5-haiku-latest", (0.8, 4.0)),
        ("bedrock", "us.anthropic.claude-3-haiku-20240307-v1:0", (0.25, 1.25)),
        ("bedrock", "amazon.nova-lite-v1:0", (0.06, 0.24)),
        ("local", "smollm2", (0.0, 0.0)),
        ("pool", "answers.jsonl", (0.0, 0.0)),
        ("openai", "my-finetune", None),
    ],
)
def test_list_prices_by_provider_and_model(
    provider: str, model: str, rates: tuple[float, float] | None
) -> None:
    price = price_for(TeacherSettings(provider, model))
    if rates is None:
        assert price is None
    else:
        assert price is not None
        assert (price.input_per_mtok, price.output_per_mtok) == pytest.approx(rates)


def test_a_model_that_shares_a_prefix_is_priced_as_itself() -> None:
    o1, o1_pro = (price_for(TeacherSettings("openai", m)) for m in ("o1", "o1-pro"))
    assert o1 is not None and o1_pro is not None
    assert o1_pro.input_per_mtok > o1.input_per_mtok


def test_list_prices_come_from_the_shipped_data_without_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from genai_prices import data_snapshot

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("a price lookup tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    data_snapshot._bundled_snapshot.cache_clear()
    prices._lookup.cache_clear()
    price = list_price("anthropic", "claude-3-5-haiku-20241022")
    assert price is not None and price.cache_write_per_mtok == pytest.approx(1.0)
    assert data_snapshot._custom_snapshot is None  # no updater ever replaced the shipped data


def test_cache_reads_and_writes_are_billed_at_their_own_rates() -> None:
    flat = Price(1.0, 2.0, cache_read_per_mtok=0.1, cache_write_per_mtok=1.25)
    expected = (100 * 1.0 + 600 * 0.1 + 300 * 1.25 + 50 * 2.0) / 1e6
    assert flat.cost(1000, 50, cache_read_tokens=600, cache_write_tokens=300) == pytest.approx(
        expected
    )
    # Without cache rates, cached tokens are plain input.
    assert Price(1.0, 2.0).cost(1000, 50, 600, 300) == pytest.approx((1000 + 100) / 1e6)
    listed = list_price("anthropic", "claude-3-5-haiku-20241022")
    assert listed is not None
    expected = (100 * 0.8 + 600 * 0.08 + 300 * 1.0 + 50 * 4.0) / 1e6
    assert listed.cost(1000, 50, 600, 300) == pytest.approx(expected)
    openai_mini = list_price("openai", "gpt-4o-mini")
    assert openai_mini is not None  # OpenAI bills cached input at half the input rate
    assert openai_mini.cost(1000, 0, 1000) == pytest.approx(openai_mini.cost(1000, 0) / 2)


def test_long_context_tiers_are_billed_like_the_price_table() -> None:
    """Above a tier's threshold the whole request pays the tier's rate; below it, the base
    rates (computed here, without the table) give the table's own figure."""
    from genai_prices import Usage as TableUsage
    from genai_prices import calc_price

    price = list_price("anthropic", "claude-sonnet-4-5")
    assert price is not None and price.tier_start is not None
    for tokens in (3_000, price.tier_start + 50_000):
        usage = TableUsage(
            input_tokens=tokens, output_tokens=500, cache_read_tokens=1000, cache_write_tokens=200
        )
        table = calc_price(usage, "claude-sonnet-4-5", provider_id="anthropic")
        assert price.cost(tokens, 500, 1000, 200) == pytest.approx(float(table.total_price))


def test_prices_from_options_override_the_list_price() -> None:
    settings = TeacherSettings("openai", "gpt-4o", options={"price_in": 1, "price_out": "2.5"})
    assert price_for(settings) == Price(1.0, 2.5)
    cached = {"price_in": 1, "price_out": 2, "price_cache_read": 0.1, "price_cache_write": 1.5}
    assert price_for(TeacherSettings("anthropic", "claude-x", options=cached)) == Price(
        1.0, 2.0, 0.1, 1.5
    )
    with pytest.raises(ConfigError, match="set both price_in and price_out"):
        price_for(TeacherSettings("openai", "x", options={"price_in": 1}))
    with pytest.raises(ConfigError, match=r"\[teacher\] options.price_in: .*got 'a'"):
        price_for(TeacherSettings("openai", "x", options={"price_in": "a", "price_out": 1}))


def test_budget_refuses_the_call_that_would_pass_the_cap() -> None:
    usage = Usage(price=Price(1.0, 2.0), max_cost_usd=0.01)
    first = usage.reserve(0.006)
    with pytest.raises(BudgetExceeded, match="max_cost_usd"):
        usage.reserve(0.006)  # 0.006 is reserved by the call in flight
    assert usage.settle(first, 1000, 1000, ok=True) == pytest.approx(0.003)
    usage.settle(usage.reserve(0.006), 0, 0, ok=False)
    assert (usage.calls, usage.failed_calls) == (2, 1)
    assert usage.cost_usd == pytest.approx(0.003) and usage.reserved_usd == 0


def test_call_cap_and_unpriced_cap() -> None:
    usage = Usage(max_calls=1)
    usage.reserve(0.0)
    with pytest.raises(BudgetExceeded, match="max_calls=1"):
        usage.reserve(0.0)
    with pytest.raises(ConfigError, match="no known price"):
        Usage(max_cost_usd=1.0).check_priced("openai:my-finetune")


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    backoff, rng = Backoff(initial=0.1, multiplier=2, maximum=1.0), random.Random(0)
    for retry, cap in [(1, 0.1), (2, 0.2), (3, 0.4), (9, 1.0)]:
        waits = [backoff.delay(retry, None, rng) for _ in range(50)]
        assert all(cap / 2 <= w <= cap for w in waits if w is not None)
    assert backoff.delay(1, 0.7, rng) == 0.7
    assert backoff.delay(5, 0.01, rng) >= 0.01  # backoff longer than the hint wins
    assert backoff.delay(1, 500.0, rng) is None  # beyond max_retry_after: give up


def test_retry_after_headers() -> None:
    assert retry_after({"retry-after-ms": "250"}) == 0.25
    assert retry_after({"Retry-After": "3"}) == 3.0
    assert retry_after({"Retry-After": "3", "retry-after-ms": "100"}) == 0.1
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= (retry_after({"retry-after": date}) or 0) <= 31
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after(None) is None


def test_rate_limit_paces_requests_and_tokens() -> None:
    clock = [0.0]

    async def sleep(seconds: float) -> None:
        clock[0] += seconds

    async def scenario() -> list[float]:
        limit = RateLimit(
            requests_per_minute=120, tokens_per_minute=6000, clock=lambda: clock[0], sleep=sleep
        )
        stamps = []
        for _ in range(5):
            await limit.acquire(50)
            stamps.append(clock[0])
        limit.settle(50, 250)  # the last call used 200 tokens more than estimated
        await limit.acquire(50)
        stamps.append(clock[0])
        return stamps

    stamps = asyncio.run(scenario())
    # 2 requests/s and 100 tokens/s, buckets of one second's worth: two go at once, then one
    # every 0.5 s; after the 200-token debt the next 50 tokens take 2.5 s to refill.
    assert stamps[:5] == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.5])
    assert stamps[5] == pytest.approx(4.0)


def _request(seed: int = 1, user: str = "u") -> TeacherRequest:
    return TeacherRequest("s", user, {"type": "array"}, 8, seed, 0.8, 512)


def test_cache_round_trip_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    key = request_key("openai", "gpt-4o-mini", _request())
    assert key != request_key("openai", "gpt-4o-mini", _request(seed=2))
    assert key != request_key("openai", "gpt-4o", _request())
    assert key != request_key("openai", "gpt-4o-mini", _request(user="v"))
    with ResponseCache(path) as cache:
        assert cache.get(key) is None
        cache.put(key, "openai", "gpt-4o-mini", TeacherReply("[1]", 10, 20, "m"))
        assert cache.get(key) == TeacherReply("[1]", 10, 20, "m")
    with ResponseCache(path) as cache:
        assert len(cache) == 1
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_attempt_seeds_are_stable_and_distinct() -> None:
    seeds = {attempt_seed(7, step, i, a) for step in range(3) for i in range(20) for a in range(3)}
    assert len(seeds) == 180
    assert attempt_seed(7, 1, 2, 0) == attempt_seed(7, 1, 2, 0)
    assert all(0 <= s < 2**31 for s in seeds)


def test_redact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-abcdefgh-1234")
    text = "key sk-test-SECRET123, auth Bearer abc.def.ghijk, token tok-abcdefgh-1234, ok"
    cleaned = redact(text)
    assert "SECRET123" not in cleaned and "abcdefgh" not in cleaned and "ghijk" not in cleaned
    assert cleaned.count(REDACTED) == 3 and cleaned.endswith("ok")


def test_request_slots_serve_retries_first_and_survive_cancellation() -> None:
    async def scenario() -> list[str]:
        slots, order = RequestSlots(1), []
        await slots.acquire(retry=False)  # the one slot is busy

        async def take(name: str, retry: bool) -> None:
            await slots.acquire(retry=retry)
            order.append(name)
            slots.release()

        fresh = asyncio.create_task(take("fresh", False))
        doomed = asyncio.create_task(take("cancelled retry", True))
        retry = asyncio.create_task(take("retry", True))
        await asyncio.sleep(0)
        doomed.cancel()
        await asyncio.sleep(0)
        slots.release()
        await asyncio.gather(fresh, retry, return_exceptions=True)
        assert slots.free == 1
        return order

    assert asyncio.run(scenario()) == ["retry", "fresh"]
