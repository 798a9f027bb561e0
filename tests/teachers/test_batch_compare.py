"""``pgkd compare`` through a batch API: the zero-shot questions go out as one job of the
loopback server's OpenAI / Anthropic batch endpoints, through the real SDKs, at the batch
price; failed questions go out again in a new job."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from pgkd.commands.cli import main
from pgkd.commands.zeroshot import zero_shot_classify
from pgkd.fill.backoff import Backoff
from pgkd.fill.usage import Usage
from pgkd.teachers.base import TeacherError
from tests.teachers import teacher_kit as kit
from tests.teachers.loopback import LoopbackServer
from tests.teachers.test_compare import finished_run, run_with_teacher

__all__ = ["finished_run"]  # the finished run to compare, a fixture shared with test_compare

LABELS = ["billing", "outage", "feature request"]


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    kit.credentials(monkeypatch)


def classify(server: LoopbackServer, provider: str, texts: list[str], usage: Usage) -> list[str]:
    teacher = kit.make_teacher(provider, server, price_in=1.0, price_out=4.0)
    usage.price = type(teacher).batch_price_for(teacher.settings)

    async def go() -> list[str]:
        try:
            return await zero_shot_classify(
                teacher,
                texts,
                LABELS,
                concurrency=4,
                usage=usage,
                max_retries=2,
                backoff=Backoff(initial=0.001, maximum=0.01),
                batch=teacher.batch_api(),
                poll_seconds=0.01,
            )
        finally:
            await teacher.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_the_questions_go_out_as_one_job_at_the_batch_price(provider: str) -> None:
    texts = [f"ticket {i}" for i in range(5)]
    usage = Usage()
    with LoopbackServer(batch_polls=2) as server:
        labels = classify(server, provider, texts, usage)
        jobs = server.batches.created()
        served = list(server.served)
    assert len(jobs) == 1 and jobs[0].custom_ids == [f"q{i}-r0" for i in range(5)]
    # The server answers the enum's labels in turn, in the job's order.
    assert labels == [s.label for s in served]
    assert usage.calls == 5 and usage.failed_calls == 0
    online = (usage.input_tokens * 1.0 + usage.output_tokens * 4.0) / 1e6
    assert usage.cost_usd == pytest.approx(online / 2)


def test_failed_questions_go_out_again_and_a_permanent_error_raises() -> None:
    usage = Usage()
    with LoopbackServer(batch_polls=0, batch_script=["ok", "500", "expired"]) as server:
        labels = classify(server, "openai", ["a", "b", "c"], usage)
        jobs = server.batches.created()
    assert [j.custom_ids for j in jobs] == [["q0-r0", "q1-r0", "q2-r0"], ["q1-r1", "q2-r1"]]
    assert all(labels) and usage.calls == 5 and usage.retries == 2 and usage.failed_calls == 2
    server = LoopbackServer(batch_polls=0, batch_script=["400"])
    with server, pytest.raises(TeacherError, match="HTTP 400"):
        classify(server, "openai", ["a"], Usage())


def test_pgkd_compare_batch_asks_through_one_job(finished_run: Path, tmp_path: Path) -> None:
    with LoopbackServer(batch_polls=1) as server:
        copy = run_with_teacher(finished_run, tmp_path, server)
        assert main(["compare", str(copy), "--limit", "4", "--batch"]) == 0
        jobs = server.batches.created()
    assert len(jobs) == 1 and len(jobs[0].requests) == 4
    teacher = json.loads((copy / "compare.json").read_text(encoding="utf-8"))["teacher"]
    assert teacher["batch"] is True and teacher["calls"] == 4
