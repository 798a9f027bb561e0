"""What calls through a batch API cost: the price table's batch prices, else the provider's
batch discount; and the dry run, which estimates a run both online and in batch mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgkd.progress import Progress
from pgkd.teachers.anthropic_teacher import AnthropicTeacher
from pgkd.teachers.base import TeacherSettings
from pgkd.teachers.bedrock_teacher import BedrockTeacher
from pgkd.teachers.openai_teacher import OpenAITeacher
from tests.teachers import teacher_kit as kit
from tests.teachers.test_batch_runs import run_config


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    kit.credentials(monkeypatch)


def test_the_table_s_batch_price_is_used_where_it_has_one() -> None:
    # genai-prices lists OpenAI's batch prices for gpt-4o-mini: half of 0.15 / 0.60.
    settings = TeacherSettings(provider="openai", model="gpt-4o-mini")
    online, batch = OpenAITeacher.price_for(settings), OpenAITeacher.batch_price_for(settings)
    assert online is not None and batch is not None
    assert batch.input_per_mtok == pytest.approx(online.input_per_mtok / 2)
    assert batch.output_per_mtok == pytest.approx(online.output_per_mtok / 2)


def test_without_a_table_batch_price_the_provider_discount_applies() -> None:
    # No batch variant for this retired model in the table: Anthropic's 50% applies.
    settings = TeacherSettings(provider="anthropic", model="claude-3-5-haiku-20241022")
    online = AnthropicTeacher.price_for(settings)
    batch = AnthropicTeacher.batch_price_for(settings)
    assert online is not None and batch is not None
    assert batch.cost(1000, 500, 200) == pytest.approx(online.cost(1000, 500, 200) / 2)
    # Prices set in the config are online prices; batch mode halves them too.
    mine = TeacherSettings("openai", "my-model", options={"price_in": 2.0, "price_out": 8.0})
    assert OpenAITeacher.batch_price_for(mine) == OpenAITeacher.price_for(mine).scaled(0.5)
    assert OpenAITeacher.batch_price_for(mine).input_per_mtok == 1.0


def test_a_provider_without_a_batch_api_has_no_batch_price() -> None:
    settings = TeacherSettings(provider="bedrock", model="anthropic.claude-3-haiku-20240307-v1:0")
    assert BedrockTeacher.batch_price_for(settings) is None


def test_the_dry_run_estimates_the_online_and_the_batch_price(tickets: dict[str, Path]) -> None:
    from pgkd.commands.dryrun import dry_run, format_dry_run

    config = run_config(tickets, "openai", "http://127.0.0.1:9", batch=True)
    config.kd.steps = 10
    estimate = dry_run(config, progress=Progress(live=False, quiet=True))
    assert estimate.batch_cost_usd == pytest.approx(estimate.cost_usd * 0.5)
    text = format_dry_run(estimate, config)
    assert "batch" in text and f"${estimate.batch_cost_usd:,.4f}" in text
    assert f"${estimate.cost_usd:,.4f}" in text
