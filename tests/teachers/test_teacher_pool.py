"""TeacherPool through the real ``openai`` SDK against the loopback server: filling, refilling,
cancelling, both retry layers, Retry-After, accounting, cache, budget, journal, progress."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pgkd.errors import BudgetExceeded
from pgkd.fill.cache import ResponseCache
from pgkd.fill.pool import TeacherFailed
from pgkd.store import JsonlLog, read_jsonl
from pgkd.tasks.classification import ClassificationTask
from pgkd.types import Prompt
from tests.teachers import teacher_kit as kit
from tests.teachers.loopback import LoopbackServer


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    kit.credentials(monkeypatch)


def test_fills_the_batch_with_bounded_concurrency() -> None:
    # Each answer takes long enough that all four slots are busy at once even on a loaded
    # machine, where the client may take tens of milliseconds to issue the next call.
    with LoopbackServer(latency=0.15) as server:
        gen, pool = kit.run(kit.fill("openai", server, 64, concurrency=4, step=3))
    assert gen.complete and gen.parsed == len(gen.candidates) == 64
    assert gen.calls == 8 and gen.failed_calls == 0 and gen.surplus == 0
    assert server.max_in_flight == 4
    assert {c.call_id for c in gen.candidates} == {f"s3c{i}" for i in range(8)}
    assert all(c.sample is not None and c.sample.step == 3 for c in gen.candidates)
    kit.assert_exact_accounting(pool.usage, server)
    kit.assert_no_loss_or_duplicate(gen, server)


def test_a_slow_call_does_not_hold_up_the_others() -> None:
    """Continuous refill: while one call is slow, the other slot keeps issuing calls."""
    with LoopbackServer(latency=0.01, slow=0.6, script=["slow"]) as server:
        gen, _ = kit.run(kit.fill("openai", server, 48, concurrency=2))
    assert gen.parsed == 48 and gen.calls == 6
    slow = next(s for s in server.served if s.fault == "slow")
    meanwhile = [s for s in server.served if slow.arrived < s.arrived < slow.answered]
    assert len(meanwhile) >= 3


def test_stops_when_full_and_cancels_calls_in_flight() -> None:
    # Whichever call arrives first answers twice the samples asked for and fills the batch;
    # the other is still in flight and gets cancelled.
    with LoopbackServer(slow=1.5, script=["double", "slow"]) as server:
        gen, pool = kit.run(kit.fill("openai", server, 16, concurrency=2))
    assert gen.parsed == 16 and gen.calls == 2
    assert gen.cancelled_calls == 1 and gen.failed_calls == 1
    assert gen.seconds < 1.0 and pool.usage.calls == 2
    # A request cancelled in flight may or may not have reached the server; it is counted as
    # a (failed) call either way, since the client cannot know.
    assert 1 <= len(server.served) <= 2


def test_reasks_and_transport_retries_are_separate_layers() -> None:
    # One call: a 500 (transport retry, same request), a malformed answer (re-ask, new seed and
    # a note), then a good answer. Each layer has a limit of one, and both suffice.
    with LoopbackServer(script=["500", "malformed", "ok"]) as server:
        gen, _ = kit.run(kit.fill("openai", server, 8, concurrency=1, max_retries=1, max_reasks=1))
    assert gen.parsed == 8 and (gen.calls, gen.retries, gen.reasks) == (3, 1, 1)
    first, retried, reasked = server.served
    assert first.key == retried.key != reasked.key
    assert retried.body["seed"] == first.body["seed"] != reasked.body["seed"]
    assert "could not be used (not JSON" in reasked.body["messages"][1]["content"]


def test_transport_errors_are_never_reasked() -> None:
    with LoopbackServer(script=["500", "500"]) as server:
        gen, _ = kit.run(kit.fill("openai", server, 8, concurrency=1, max_retries=1, max_reasks=3))
    # The first call gave up after 1 + max_retries requests; a second call filled the batch.
    assert gen.parsed == 8 and gen.abandoned_calls == 1
    assert (gen.calls, gen.retries, gen.reasks) == (3, 1, 0)


def test_malformed_answers_are_reasked_up_to_the_limit() -> None:
    with LoopbackServer(script=["malformed", "truncated", "malformed"]) as server:
        gen, _ = kit.run(kit.fill("openai", server, 8, concurrency=1, max_reasks=2))
    assert gen.parsed == 8 and gen.abandoned_calls == 1
    assert (gen.calls, gen.retries, gen.reasks) == (4, 0, 2)


def test_a_teacher_that_keeps_failing_ends_the_fill() -> None:
    server = LoopbackServer(rates={"malformed": 1.0})
    with server, pytest.raises(TeacherFailed, match="2 calls gave up"):
        kit.run(kit.fill("openai", server, 8, concurrency=1, max_reasks=1))
    assert len(server.served) == 4


def test_answers_without_a_usable_record_are_reasked_not_repeated_forever() -> None:
    server = LoopbackServer(rates={"no_labels": 1.0})
    with server, pytest.raises(TeacherFailed, match="no record fits the schema"):
        kit.run(kit.fill("openai", server, 8, concurrency=1, max_reasks=1))
    assert len(server.served) == 4
    last = server.served[-1].body["messages"][1]["content"]
    assert "no record fits the schema: missing field(s) label" in last


def test_a_permanent_error_ends_the_fill_without_retries() -> None:
    server = LoopbackServer(script=["401"])
    with server, pytest.raises(TeacherFailed, match="HTTP 401") as caught:
        kit.run(kit.fill("openai", server, 8, concurrency=1))
    assert len(server.served) == 1
    assert "SECRET123" not in str(caught.value)


@pytest.mark.parametrize(("header", "wait"), [("retry-after-ms", 0.3), ("retry-after", 1.0)])
def test_no_request_before_retry_after(header: str, wait: float) -> None:
    script = ["429", "429"] if header == "retry-after-ms" else ["429"]
    with LoopbackServer(script=script, retry_after=wait, retry_after_header=header) as server:
        gen, _ = kit.run(kit.fill("openai", server, 8, concurrency=1))
    assert gen.parsed == 8 and gen.retries == len(script)
    assert kit.assert_retry_after_honoured(server) == len(script)


def test_timeouts_and_dropped_connections_are_retried() -> None:
    with LoopbackServer(script=["timeout", "drop"], hang=3.0) as server:
        gen, pool = kit.run(
            kit.fill("openai", server, 8, concurrency=1, teacher_options={"timeout": 0.3})
        )
    assert gen.parsed == 8 and (gen.calls, gen.failed_calls, gen.retries) == (3, 2, 2)
    kit.assert_exact_accounting(pool.usage, server)


def test_wrong_labels_are_left_to_the_validators() -> None:
    with LoopbackServer(script=["wrong_label"]) as server:
        gen, _ = kit.run(kit.fill("openai", server, 8, concurrency=1))
    task = ClassificationTask()
    errors = [task.label_errors(c.sample, kit.LABELS) for c in gen.candidates if c.sample]
    assert len(errors) == 8 and all(e and "outside the taxonomy" in e for e in errors)


def test_unparsable_records_follow_the_parsed_ones() -> None:
    with LoopbackServer(script=["bad_record"]) as server:
        gen, _ = kit.run(kit.fill("openai", server, 8, concurrency=1))
    assert (gen.parsed, gen.unparsable, gen.surplus, gen.calls) == (8, 4, 4, 2)
    assert [c.sample is None for c in gen.candidates] == [False] * 8 + [True] * 4
    assert all("missing field(s) label" in (c.parse_error or "") for c in gen.candidates[8:])
    kit.assert_no_loss_or_duplicate(gen, server)


def test_cache_replays_a_run_without_paying(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    with ResponseCache(path) as cache, LoopbackServer(script=["429", "malformed"]) as server:
        first, first_pool = kit.run(kit.fill("openai", server, 32, cache=cache))
    with ResponseCache(path) as cache, LoopbackServer() as replay:
        second, second_pool = kit.run(kit.fill("openai", replay, 32, cache=cache))
    assert replay.served == []
    assert second.calls == 0 and second.cost_usd == 0 and second_pool.usage.input_tokens == 0
    assert second.cached_calls == first.calls - first.failed_calls
    assert [c.record for c in second.candidates] == [c.record for c in first.candidates]
    assert first_pool.usage.cost_usd > 0


def test_max_calls_stops_cleanly() -> None:
    async def scenario(server: LoopbackServer) -> tuple[Any, int]:
        pool = kit.make_pool(kit.make_teacher("openai", server), concurrency=2, max_calls=3)
        try:
            gen = await pool.fill(kit.PROMPT, 40, step=1)
            sent = len(server.served)
            with pytest.raises(BudgetExceeded, match="max_calls=3"):
                await pool.fill(kit.PROMPT, 40, step=2)
            assert len(server.served) == sent
            return gen, sent
        finally:
            await pool.aclose()

    with LoopbackServer() as server:
        gen, sent = kit.run(scenario(server))
    assert gen.budget_exhausted and not gen.complete
    assert (gen.parsed, gen.calls, sent) == (24, 3, 3)


def test_a_pool_out_of_budget_refuses_every_later_fill() -> None:
    """Once a fill ran out of ``max_cost_usd``, a later fill is refused even when its own
    first call would still fit (a shorter prompt): a run never goes past an exhausted budget,
    whether or not a plugin stops it."""
    long_prompt = Prompt(kit.PROMPT.system, kit.PROMPT.user + " Keep to this tone." * 80)
    prices = {"price_in": 1000.0, "price_out": 0.0, "max_tokens": 100}

    async def scenario(server: LoopbackServer) -> tuple[Any, float | None, int]:
        pool = kit.make_pool(
            kit.make_teacher("openai", server, **prices), concurrency=1, max_cost_usd=1.0
        )
        try:
            gen = await pool.fill(long_prompt, 80, step=1)
            sent = len(server.served)
            with pytest.raises(BudgetExceeded, match="max_cost_usd"):
                await pool.fill(kit.PROMPT, 8, step=2)
            return gen, pool.usage.remaining_usd, len(server.served) - sent
        finally:
            await pool.aclose()

    with LoopbackServer() as server:
        gen, remaining, sent_after = kit.run(scenario(server))
    assert gen.budget_exhausted and gen.calls >= 1
    assert remaining is not None and remaining > 0.2  # a short prompt's call would fit
    assert sent_after == 0


def test_max_cost_is_never_exceeded() -> None:
    prices = {"price_in": 1000.0, "price_out": 1000.0}  # USD per million tokens: ~$0.3 a call
    with LoopbackServer() as server:
        gen, pool = kit.run(
            kit.fill(
                "openai",
                server,
                80,
                concurrency=2,
                max_cost_usd=1.0,
                teacher_options={"max_tokens": 300, **prices},
            )
        )
    totals = server.totals()
    assert gen.budget_exhausted and 1 <= gen.calls < 10
    assert pool.usage.cost_usd == pytest.approx(
        (totals["input_tokens"] + totals["output_tokens"]) * 1000 / 1e6
    )
    assert pool.usage.cost_usd <= 1.0
    assert pool.usage.cost_usd + pool.usage.cost_usd / gen.calls > 1.0 - 0.35


def test_journal_has_every_call_before_the_fill_returns(tmp_path: Path) -> None:
    journal = JsonlLog(tmp_path / "journal.jsonl")
    with LoopbackServer(script=["429", "malformed"]) as server:
        gen, _ = kit.run(kit.fill("openai", server, 16, concurrency=2, journal=journal))
    journal.close()
    events = [e for e in read_jsonl(tmp_path / "journal.jsonl") if e["event"] == "teacher_call"]
    assert len(events) == len(server.served) == gen.calls
    required = {"step", "call_id", "attempt", "provider", "model", "input_tokens"}
    required |= {"output_tokens", "ok", "cached", "text"}
    assert all(required <= set(e) for e in events)
    failed = [e for e in events if not e["ok"]]
    assert len(failed) == 1 and "HTTP 429" in failed[0]["error"]
    assert sum(e["input_tokens"] for e in events) == gen.input_tokens
    assert any(e["attempt"] == 1 for e in events)  # the re-ask


def test_progress_is_reported_while_filling() -> None:
    seen: list[tuple[int, int, int, int, float]] = []

    def progress(accepted: int, requested: int, in_flight: int, retries: int, cost: float) -> None:
        seen.append((accepted, requested, in_flight, retries, cost))

    with LoopbackServer(latency=0.01, script=["500"]) as server:
        kit.run(kit.fill("openai", server, 32, concurrency=3, progress=progress))
    assert seen[-1][0] == seen[-1][1] == 32
    assert max(s[2] for s in seen) == 3 and seen[-1][3] == 1
    assert [s[4] for s in seen] == sorted(s[4] for s in seen) and seen[-1][4] > 0
