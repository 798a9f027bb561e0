"""Teacher accounting for a whole run: calls, retries, tokens, cost, and the budget cap.

Counting rules (one :class:`Usage` spans the run; each :class:`~pgkd.fill.pool.Generation`
reports the step's delta):

- ``calls``: requests sent to the provider, every attempt (transport retries and re-asks
  included); replies served from the response cache are not calls.
- ``failed_calls``: sent requests that brought back no usable reply (HTTP error, timeout,
  dropped connection, cancelled because the batch was already full).
- ``retries``: transport retries (after 429/5xx/timeouts); ``reasks``: repeated requests after a
  malformed answer. The two are kept apart: no error is ever retried by both.
- ``cached_calls``: replies taken from the response cache (they cost nothing).
- ``input_tokens``/``output_tokens``/``cost_usd``: what the provider reported for every sent
  request, failed ones included when the provider reported usage for them. ``input_tokens``
  counts every prompt token; ``cache_read_tokens`` and ``cache_write_tokens`` are the part of
  them the provider read from or wrote to its prompt cache, billed at their own rates
  (:class:`~pgkd.teachers.prices.Price`).

The counters are declared once, in :class:`UsageTotals`: the run's :class:`Usage` and each
fill's :class:`~pgkd.fill.pool.Generation` are UsageTotals with more on top.

The budget (``max_cost_usd``, ``max_calls``) is checked *before* each request: a request that
would take spend past the cap raises :class:`~pgkd.errors.BudgetExceeded` instead of being sent.
Requests in flight reserve their estimated cost, so concurrent calls cannot overshoot together.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from pgkd.errors import BudgetExceeded, ConfigError
from pgkd.fill.pricing import Price


@dataclass(slots=True)
class UsageTotals:
    """The teacher's counters (see the module docstring); alone, a snapshot of them, to take
    differences between two moments."""

    calls: int = 0
    failed_calls: int = 0
    retries: int = 0
    reasks: int = 0
    cached_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0

    def totals(self) -> UsageTotals:
        """A snapshot of the counters alone."""
        return UsageTotals(**self.as_dict())

    def minus(self, earlier: UsageTotals) -> UsageTotals:
        return UsageTotals(
            **{
                f.name: getattr(self, f.name) - getattr(earlier, f.name)
                for f in fields(UsageTotals)
            }
        )

    def as_dict(self) -> dict[str, Any]:
        """The counters by name (only they, also on a subclass)."""
        return {f.name: getattr(self, f.name) for f in fields(UsageTotals)}


@dataclass(slots=True)
class Usage(UsageTotals):
    """Run-wide teacher accounting and budget; see the module docstring for what counts."""

    #: Estimated spend of the requests in flight right now.
    reserved_usd: float = 0.0
    max_cost_usd: float | None = None
    max_calls: int | None = None
    #: USD per million tokens; None means unknown (calls then cost 0).
    price: Price | None = None

    def check_priced(self, model: str) -> None:
        """Refuse a cost cap that cannot be enforced because the model has no price."""
        if self.max_cost_usd is not None and self.price is None:
            raise ConfigError(
                f"[teacher] max_cost_usd is set but {model!r} has no known price; set "
                "[teacher] options price_in and price_out (USD per million tokens)"
            )

    def cost_of(
        self,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> float:
        if self.price is None:
            return 0.0
        return self.price.cost(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)

    @property
    def remaining_usd(self) -> float | None:
        if self.max_cost_usd is None:
            return None
        return self.max_cost_usd - self.cost_usd - self.reserved_usd

    def reserve(self, estimate_usd: float) -> float:
        """Count a request about to be sent and reserve its estimated cost; raise
        :class:`BudgetExceeded` (sending nothing) when it would pass a cap. Returns the
        reservation to hand back to :meth:`settle`."""
        if self.max_calls is not None and self.calls >= self.max_calls:
            raise BudgetExceeded(
                f"teacher budget: max_calls={self.max_calls} reached; raise [teacher] max_calls "
                "to continue"
            )
        remaining = self.remaining_usd
        if remaining is not None and estimate_usd > remaining:
            raise BudgetExceeded(
                f"teacher budget: the next call (~${estimate_usd:.4f}) would pass "
                f"max_cost_usd=${self.max_cost_usd:g} (spent ${self.cost_usd:.4f}); raise "
                "[teacher] max_cost_usd to continue"
            )
        self.calls += 1
        self.reserved_usd += estimate_usd
        return estimate_usd

    def settle(
        self,
        reservation: float,
        input_tokens: int,
        output_tokens: int,
        *,
        ok: bool,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> float:
        """Replace a request's reservation by what it really cost; returns that cost."""
        self.reserved_usd = max(0.0, self.reserved_usd - reservation)
        cost = self.cost_of(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.cache_read_tokens += cache_read_tokens
        self.cache_write_tokens += cache_write_tokens
        self.cost_usd += cost
        if not ok:
            self.failed_calls += 1
        return cost
