"""Batch mode (``[teacher] batch = true``) through the real ``openai`` and ``anthropic`` SDKs
against the loopback server's batch endpoints: one job per step, several polls, partial
failures, expiry, re-asks, the retry budget, the journal, the cache, accounting at the batch
price, the budget cap, and re-attaching to a journaled job instead of paying twice."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from pgkd.errors import BudgetExceeded, ConfigError
from pgkd.fill.batch_fill import BatchMode
from pgkd.fill.batch_jobs import BatchLedger
from pgkd.fill.cache import ResponseCache
from pgkd.fill.pool import Generation, TeacherFailed, TeacherPool
from pgkd.store import JsonlLog, read_jsonl
from tests.teachers import teacher_kit as kit
from tests.teachers.loopback import LoopbackServer

PROVIDERS = ("openai", "anthropic")
#: USD per million tokens (the loopback's model names have list prices, but fixed ones keep
#: the arithmetic readable).
PRICES = {"price_in": 1.0, "price_out": 4.0}


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    kit.credentials(monkeypatch)


def batch_pool(
    provider: str,
    server: LoopbackServer,
    tmp_path: Path | None = None,
    *,
    ledger: BatchLedger | None = None,
    progress: Any = None,
    **options: Any,
) -> TeacherPool:
    teacher = kit.make_teacher(provider, server, **PRICES)
    journal = JsonlLog(tmp_path / "journal.jsonl") if tmp_path is not None else None
    cache = ResponseCache(tmp_path / "cache.sqlite") if tmp_path is not None else None
    mode = BatchMode(poll_seconds=0.01, ledger=ledger or BatchLedger(), progress=progress)
    return kit.make_pool(teacher, batch=mode, journal=journal, cache=cache, **options)


def fill(pool: TeacherPool, n_samples: int, step: int = 1) -> Generation:
    async def go() -> Generation:
        try:
            return await pool.fill(kit.PROMPT, n_samples, step=step)
        finally:
            await pool.aclose()

    try:
        return asyncio.run(go())
    finally:
        close_files(pool)


def close_files(pool: TeacherPool) -> None:
    if pool.writer.journal is not None:
        pool.writer.journal.close()
    if pool.cache is not None:
        pool.cache.close()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_step_goes_out_as_one_job_polled_until_it_ends(provider: str, tmp_path: Path) -> None:
    states: list[str] = []
    with LoopbackServer(batch_polls=3) as server:
        pool = batch_pool(provider, server, tmp_path, progress=lambda a, r, s: states.append(s))
        gen = fill(pool, 32, step=2)
        jobs = server.batches.created()
    assert gen.complete and gen.parsed == 32 and gen.calls == 4
    assert len(jobs) == 1 and jobs[0].polls >= 4
    assert sorted(jobs[0].custom_ids) == [f"s2c{i}-a0-r0" for i in range(4)]
    kit.assert_exact_accounting(pool.usage, server)
    kit.assert_no_loss_or_duplicate(gen, server)
    # Progress showed the job waiting, then ended.
    assert any(jobs[0].id in s and "progress" in s for s in states)
    assert any("ended" in s or "completed" in s for s in states)
    # The job id is on disk before any reply is.
    events = list(read_jsonl(tmp_path / "journal.jsonl"))
    kinds = [e["event"] for e in events]
    assert kinds.index("batch_job") < kinds.index("teacher_call")
    job = next(e for e in events if e["event"] == "batch_job")
    assert job["job_id"] == jobs[0].id and len(job["requests"]) == 4
    calls = [e for e in events if e["event"] == "teacher_call"]
    assert all(c["batch_job"] == jobs[0].id and c["ok"] for c in calls)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_batch_price_is_half_the_online_price(provider: str) -> None:
    with LoopbackServer(batch_polls=0) as server:
        pool = batch_pool(provider, server)
        fill(pool, 16)
    usage = pool.usage
    online = usage.input_tokens * PRICES["price_in"] + usage.output_tokens * PRICES["price_out"]
    assert usage.cost_usd == pytest.approx(online / 1e6 * 0.5)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_failed_and_malformed_requests_are_sent_again_in_a_new_job(provider: str) -> None:
    # Four requests: a server error, an unusable answer, a rate limit, a good one.
    script = ["500", "malformed", "429", "ok"]
    with LoopbackServer(batch_polls=1, batch_script=script) as server:
        pool = batch_pool(provider, server)
        gen = fill(pool, 32)
        jobs = server.batches.created()
    assert gen.complete and gen.parsed == 32
    assert len(jobs) == 2
    assert sorted(jobs[1].custom_ids) == ["s1c0-a0-r1", "s1c1-a1-r0", "s1c2-a0-r1"]
    assert gen.retries == 2 and gen.reasks == 1
    assert gen.calls == 7 and gen.failed_calls == 2
    kit.assert_no_loss_or_duplicate(gen, server)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_expired_job_keeps_what_ran_and_resends_the_rest(provider: str) -> None:
    with LoopbackServer(batch_polls=1, job_script=["expire"]) as server:
        pool = batch_pool(provider, server)
        gen = fill(pool, 32)
        jobs = server.batches.created()
    assert gen.complete and gen.parsed == 32
    assert len(jobs) == 2 and len(jobs[1].requests) == 2
    assert all(c.endswith("-r1") for c in jobs[1].custom_ids)
    assert gen.retries == 2


def test_requests_that_keep_failing_run_out_of_retries() -> None:
    with LoopbackServer(batch_polls=0, batch_rates={"500": 1.0}) as server:
        pool = batch_pool("openai", server, max_retries=2)
        with pytest.raises(TeacherFailed, match="gave up"):
            fill(pool, 8)
        jobs = server.batches.created()
    # One job per attempt: the first and two retries, then the call gave up; its replacement
    # fails the same way, and the second call to give up ends the fill.
    assert len(jobs) >= 3
    assert [c for j in jobs[:3] for c in j.custom_ids] == ["s1c0-a0-r0", "s1c0-a0-r1", "s1c0-a0-r2"]


def test_a_permanent_error_inside_the_job_fails_the_fill() -> None:
    with LoopbackServer(batch_polls=0, batch_script=["400"]) as server:
        pool = batch_pool("anthropic", server)
        with pytest.raises(TeacherFailed, match="invalid_request_error"):
            fill(pool, 8)


def test_a_job_that_failed_validation_fails_the_fill() -> None:
    with LoopbackServer(batch_polls=0, job_script=["fail"]) as server:
        pool = batch_pool("openai", server)
        with pytest.raises(TeacherFailed, match="bad input file"):
            fill(pool, 8)


def test_the_budget_cap_limits_what_is_submitted() -> None:
    with LoopbackServer(batch_polls=0) as server:
        pool = batch_pool("openai", server, max_calls=2)
        gen = fill(pool, 32)
        jobs = server.batches.created()
    assert gen.budget_exhausted and gen.parsed == 16 and gen.calls == 2
    assert len(jobs) == 1 and len(jobs[0].requests) == 2
    with LoopbackServer(batch_polls=0) as server:
        pool = batch_pool("openai", server, max_calls=1)
        pool.usage.calls = 1
        with pytest.raises(BudgetExceeded):
            fill(pool, 8)
        assert server.batches.created() == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_restarted_fill_re_attaches_to_the_pending_job(provider: str, tmp_path: Path) -> None:
    """The process stops while its job is pending; the next one finds the job in the journal
    and waits for it instead of submitting again."""
    with LoopbackServer(batch_polls=10**6) as server:
        pool = batch_pool(provider, server, tmp_path)

        async def stop_while_pending() -> None:
            task = asyncio.create_task(pool.fill(kit.PROMPT, 32, step=2))
            while not server.batches.created():
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await pool.aclose()

        asyncio.run(stop_while_pending())
        close_files(pool)
        assert len(server.batches.created()) == 1 and not server.batches.jobs[0].ended
        server.batch_polls = 2
        ledger = BatchLedger.from_journal(read_jsonl(tmp_path / "journal.jsonl"))
        assert len(ledger) == 4
        again = batch_pool(provider, server, tmp_path, ledger=ledger)
        gen = fill(again, 32, step=2)
        assert len(server.batches.created()) == 1
    assert gen.complete and gen.parsed == 32 and gen.calls == 4
    # A third start finds every reply in the cache: nothing is submitted or attached.
    with LoopbackServer() as server:
        ledger = BatchLedger.from_journal(read_jsonl(tmp_path / "journal.jsonl"))
        third = batch_pool(provider, server, tmp_path, ledger=ledger)
        gen = fill(third, 32, step=2)
        assert server.batches.created() == [] and server.served == []
    assert gen.parsed == 32 and gen.cached_calls == 4 and gen.calls == 0


def test_a_teacher_without_a_batch_api_is_refused() -> None:
    from pgkd.teachers.simulation import SimulationTeacher

    assert SimulationTeacher.batch_discount is None
    with LoopbackServer() as server:
        teacher = kit.make_teacher("bedrock", server)
        with pytest.raises(ConfigError, match=r"\[teacher\] batch"):
            kit.make_pool(teacher, batch=BatchMode())


def test_a_plain_log_shows_each_new_state_of_the_job() -> None:
    import io

    from pgkd.progress import Progress

    stream = io.StringIO()
    with LoopbackServer(batch_polls=2) as server:
        report = Progress(live=False, stream=stream).batch_callback()
        fill(batch_pool("openai", server, progress=report), 16)
    lines = [line.strip() for line in stream.getvalue().splitlines()]
    states = [line for line in lines if line.startswith("teacher: batch job")]
    assert states[0] == "teacher: batch job batch_0: validating, 0/2 requests done"
    assert "teacher: batch job batch_0: in_progress, 0/2 requests done" in states
    assert len(states) == len(set(states))


def test_the_ledger_forgets_a_job_that_failed_as_a_whole() -> None:
    def job(job_id: str, key: str) -> dict[str, Any]:
        request = {"custom_id": "s1c0-a0-r0", "key": key}
        return {"event": "batch_job", "job_id": job_id, "requests": [request]}

    events = [
        job("batch_0", "k0"),
        job("batch_1", "k1"),
        {"event": "batch_job_ended", "job_id": "batch_0", "state": "failed", "error": "bad"},
        {"event": "batch_job_ended", "job_id": "batch_1", "state": "completed", "error": None},
    ]
    ledger = BatchLedger.from_journal(events)
    assert ledger.slot("k0") is None
    slot = ledger.slot("k1")
    assert slot is not None and slot.job_id == "batch_1"
