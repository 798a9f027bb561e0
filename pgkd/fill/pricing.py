"""What a teacher's tokens cost: USD per million input and output tokens, by model.

Prices change; the table is a starting point (list prices, on-demand, no batch or cache
discounts, checked against the providers' price pages as of :data:`PRICES_AS_OF`). A user
overrides or extends it per run with ``[teacher] options`` ``price_in`` and ``price_out`` (USD
per million tokens). A model missing from the table and without those options has no price:
its calls cost 0 and a ``max_cost_usd`` cap refuses to run (see
:class:`~pgkd.fill.usage.Usage`).

Model ids match exactly or by their dated / versioned form: ``gpt-4o-2024-08-06`` is priced as
``gpt-4o``, ``claude-3-5-sonnet-20241022`` as ``claude-3-5-sonnet``, and a Bedrock
cross-region profile ``us.anthropic.claude-...`` as ``anthropic.claude-...``. A different model
that merely shares a prefix (``o1-pro`` vs ``o1``) does not match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pgkd.errors import ConfigError
from pgkd.teachers.base import TeacherSettings

PRICES_AS_OF = "2025-08"


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million input and output tokens."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


_ANTHROPIC: dict[str, Price] = {
    "claude-3-haiku": Price(0.25, 1.25),
    "claude-3-5-haiku": Price(0.80, 4.00),
    "claude-haiku-4-5": Price(1.00, 5.00),
    "claude-3-sonnet": Price(3.00, 15.00),
    "claude-3-5-sonnet": Price(3.00, 15.00),
    "claude-3-7-sonnet": Price(3.00, 15.00),
    "claude-sonnet-4": Price(3.00, 15.00),
    "claude-sonnet-4-5": Price(3.00, 15.00),
    "claude-3-opus": Price(15.00, 75.00),
    "claude-opus-4": Price(15.00, 75.00),
    "claude-opus-4-1": Price(15.00, 75.00),
}

#: Built-in prices, keyed ``provider:model``.
PRICES: dict[str, Price] = {
    "openai:gpt-3.5-turbo": Price(0.50, 1.50),
    "openai:gpt-4-turbo": Price(10.00, 30.00),
    "openai:gpt-4o": Price(2.50, 10.00),
    "openai:gpt-4o-mini": Price(0.15, 0.60),
    "openai:gpt-4.1": Price(2.00, 8.00),
    "openai:gpt-4.1-mini": Price(0.40, 1.60),
    "openai:gpt-4.1-nano": Price(0.10, 0.40),
    "openai:gpt-5": Price(1.25, 10.00),
    "openai:gpt-5-mini": Price(0.25, 2.00),
    "openai:gpt-5-nano": Price(0.05, 0.40),
    "openai:o1": Price(15.00, 60.00),
    "openai:o1-mini": Price(1.10, 4.40),
    "openai:o3": Price(2.00, 8.00),
    "openai:o3-mini": Price(1.10, 4.40),
    "openai:o4-mini": Price(1.10, 4.40),
    **{f"anthropic:{model}": price for model, price in _ANTHROPIC.items()},
    **{f"bedrock:anthropic.{model}": price for model, price in _ANTHROPIC.items()},
    "bedrock:amazon.nova-micro-v1": Price(0.035, 0.14),
    "bedrock:amazon.nova-lite-v1": Price(0.06, 0.24),
    "bedrock:amazon.nova-pro-v1": Price(0.80, 3.20),
    "bedrock:meta.llama3-1-8b-instruct-v1": Price(0.22, 0.22),
    "bedrock:meta.llama3-1-70b-instruct-v1": Price(0.72, 0.72),
    "bedrock:mistral.mistral-large-2407-v1": Price(2.00, 6.00),
}

#: Providers that run on this machine and cost nothing per token.
FREE_PROVIDERS = frozenset({"local", "simulation", "pool"})

# What may follow a table id in a real model id: a date or version, "-latest", ":rev", "@date".
_VERSION_TAIL = re.compile(r"(-\d.*|-latest|[:@].*)?")
_BEDROCK_REGION = re.compile(r"^(us|eu|apac|us-gov|ca|jp|au|global)\.")


def lookup(provider: str, model: str) -> Price | None:
    """The table's price for ``provider:model``, or None when the model is not in the table."""
    if provider in FREE_PROVIDERS:
        return Price(0.0, 0.0)
    if provider == "bedrock":
        model = _BEDROCK_REGION.sub("", model)
    wanted = f"{provider}:{model}"
    best: tuple[int, Price] | None = None
    for key, price in PRICES.items():
        fits = wanted.startswith(key) and _VERSION_TAIL.fullmatch(wanted[len(key) :])
        if fits and (best is None or len(key) > best[0]):
            best = (len(key), price)
    return best[1] if best else None


def price_for(settings: TeacherSettings) -> Price | None:
    """The price of the configured teacher: ``options`` ``price_in``/``price_out`` when given,
    else the table's."""
    given = {key: settings.options.get(key) for key in ("price_in", "price_out")}
    if given["price_in"] is None and given["price_out"] is None:
        return lookup(settings.provider, settings.model)
    try:
        values = {key: float(value) for key, value in given.items() if value is not None}
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"[teacher] options price_in/price_out: expected USD per million tokens, got {given}"
        ) from exc
    if len(values) != 2 or min(values.values()) < 0:
        raise ConfigError(
            "[teacher] options: set both price_in and price_out (USD per million tokens, >= 0)"
        )
    return Price(values["price_in"], values["price_out"])
