"""What a teacher's tokens cost: list prices from the ``genai-prices`` data, or the user's own.

``genai-prices`` is a maintained table of LLM prices (input, output, cached input, cache writes,
long-context tiers, by date) that ships its data inside the package: pgkd reads the bundled
snapshot and never starts its updater, so looking up a price needs no network. The snapshot is
as current as the installed package (``pip install -U genai-prices`` refreshes it).

A provider names its entry in that table (:attr:`pgkd.teachers.base.Teacher.price_provider`);
:func:`list_price` finds a model by the provider's own id, dated and versioned forms included
(``gpt-4o-2024-08-06``, ``claude-3-5-haiku-20241022``, Bedrock's ``us.anthropic....``).

Tokens are counted the way the providers bill them: ``input_tokens`` is every prompt token,
of which ``cache_read_tokens`` were read from the provider's prompt cache and
``cache_write_tokens`` written to it (Anthropic); each part has its own rate.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens. Cache rates of ``None`` bill those tokens as plain input.

    ``table`` is the ``genai-prices`` entry of a price with long-context tiers (the rates here
    are the base tier's): a request with more than ``tier_start`` input tokens is priced by the
    table's own calculation, so the whole request pays the tier's rate as the provider bills it.
    Below that the rates here are exact, and cheap to apply (a few microseconds; the table's
    calculation takes hundreds).
    """

    input_per_mtok: float
    output_per_mtok: float
    cache_read_per_mtok: float | None = None
    cache_write_per_mtok: float | None = None
    table: Any = field(default=None, compare=False, repr=False)
    tier_start: int | None = field(default=None, compare=False, repr=False)
    #: Applied to what ``table`` computes (a discount on a tiered price, see :meth:`scaled`).
    table_scale: float = field(default=1.0, compare=False, repr=False)

    def cost(
        self,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> float:
        """USD for one request; ``input_tokens`` includes the cache reads and writes."""
        if (
            self.table is not None
            and self.tier_start is not None
            and input_tokens > self.tier_start
        ):
            from genai_prices import Usage

            usage = Usage(
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cache_read_tokens=cache_read_tokens or None,
                cache_write_tokens=cache_write_tokens or None,
            )
            return float(self.table.calc_price(usage)["total_price"]) * self.table_scale
        read = self.input_per_mtok if self.cache_read_per_mtok is None else self.cache_read_per_mtok
        write = (
            self.input_per_mtok if self.cache_write_per_mtok is None else self.cache_write_per_mtok
        )
        plain = max(0, input_tokens - cache_read_tokens - cache_write_tokens)
        total = (
            plain * self.input_per_mtok
            + cache_read_tokens * read
            + cache_write_tokens * write
            + output_tokens * self.output_per_mtok
        )
        return total / 1e6

    def scaled(self, factor: float) -> Price:
        """Every rate times ``factor`` (a batch discount)."""

        def times(rate: float | None) -> float | None:
            return None if rate is None else rate * factor

        return replace(
            self,
            input_per_mtok=self.input_per_mtok * factor,
            output_per_mtok=self.output_per_mtok * factor,
            cache_read_per_mtok=times(self.cache_read_per_mtok),
            cache_write_per_mtok=times(self.cache_write_per_mtok),
            table_scale=self.table_scale * factor,
        )


FREE = Price(0.0, 0.0)


def list_price(provider: str, model: str) -> Price | None:
    """The ``genai-prices`` price of ``model`` at ``provider`` (a provider id of that table),
    or None when the table does not know the model."""
    return _lookup(provider, model.strip().lower(), False)


def batch_list_price(provider: str, model: str, discount: float) -> Price | None:
    """The price of ``model``'s requests through ``provider``'s batch API: the table's batch
    prices where it has them (its ``processing = batch`` variant), else the list price times
    ``discount`` (the provider's published batch discount); None for an unknown model."""
    found = _lookup(provider, model.strip().lower(), True)
    if found is not None:
        return found
    online = list_price(provider, model)
    return online.scaled(discount) if online is not None else None


#: The ``genai-prices`` price context of a request sent through a batch API.
BATCH_CONTEXT = {"processing": "batch"}


@functools.lru_cache(maxsize=256)
def _lookup(provider: str, model: str, batch: bool) -> Price | None:
    """The table's price; with ``batch``, its batch variant, or None when it has none."""
    from genai_prices import data_snapshot

    # The bundled snapshot only: never a price update over the network.
    snapshot = data_snapshot.get_snapshot()
    try:
        _, info = snapshot.find_provider_model(model, None, provider, None)
    except LookupError:
        return None
    now = datetime.now(tz=UTC)
    if batch and not _has_variant(info, BATCH_CONTEXT, now):
        return None
    table = info.get_prices(now, BATCH_CONTEXT if batch else None)
    raw = [
        getattr(table, key, None)
        for key in ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")
    ]
    rates = [_rate(value) for value in raw]
    if rates[0] is None or rates[1] is None:
        return None
    starts = [int(tier.start) for value in raw for tier in getattr(value, "tiers", None) or ()]
    if not starts:
        return Price(rates[0], rates[1], rates[2], rates[3])
    return Price(rates[0], rates[1], rates[2], rates[3], table=table, tier_start=min(starts))


def _has_variant(info: Any, context: dict[str, str], now: datetime) -> bool:
    """Whether the table prices requests of ``context`` apart (an active variant for them)."""
    for variant in getattr(info, "price_variants", None) or ():
        constraint = variant.constraint
        if constraint is not None and not constraint.active(now):
            continue
        if all(context.get(key) == value for key, value in variant.when.items()):
            return True
    return False


def _rate(value: Any) -> float | None:
    """A rate of the table as a float: a flat Decimal, or the base rate of a tiered price."""
    if value is None:
        return None
    if isinstance(value, Decimal | int | float):
        return float(value)
    base = getattr(value, "base", None)
    return float(base) if base is not None else None
