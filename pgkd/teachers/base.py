"""The teacher interface: one provider call in, one reply out.

A teacher knows its wire protocol and nothing else. Filling a batch (concurrency, transport
retries, re-asks on bad JSON, accounting, caching) belongs to
:class:`pgkd.fill.pool.TeacherPool`, so a new provider is one small class.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

# The messages live below this module, so the batch API can use them without importing the
# teacher interface back; they are imported here so ``pgkd.teachers.base`` keeps naming them.
from pgkd.teachers.messages import (
    TeacherError,
    TeacherReply,
    TeacherRequest,
    TeacherUnreachable,
    TransientTeacherError,
)
from pgkd.teachers.prices import FREE, Price, batch_list_price, list_price

if TYPE_CHECKING:  # pydantic is imported when a teacher is built, not with ``import pgkd``
    from pgkd.teachers.batch_api import BatchApi
    from pgkd.teachers.options import TeacherOptions

__all__ = [
    "Teacher",
    "TeacherError",
    "TeacherReply",
    "TeacherRequest",
    "TeacherSettings",
    "TeacherUnreachable",
    "TransientTeacherError",
]


@dataclass(frozen=True, slots=True)
class TeacherSettings:
    """The ``[teacher]`` config section as a teacher sees it (secrets are never here: keys come
    from the environment or the provider's own credential chain)."""

    provider: str
    model: str
    base_url: str | None = None
    temperature: float = 0.8
    max_tokens: int = 2048
    timeout: float = 60.0
    #: ``[teacher] options`` as written; each provider validates them with its ``Options``.
    options: Mapping[str, Any] = field(default_factory=dict)


class Teacher(abc.ABC):
    """A provider's model. Subclasses implement :meth:`complete`; they must be safe to call
    concurrently from one event loop.

    A provider declares on its class what the engine needs to know about it: ``Options``, the
    pydantic model of its ``[teacher] options`` (validated when the teacher is built, into
    ``self.options``); ``free``, true for a teacher that costs nothing per token (a model run
    on this machine, the SIMULATION pool); and ``price_provider``, its name in the
    ``genai-prices`` table (:mod:`pgkd.teachers.prices`) where its models' list prices are.
    A SIMULATION provider also implements the optional
    :class:`~pgkd.teachers.simulation_protocol.SimulationProvider` protocol.
    """

    provider: str = ""
    #: The model of this provider's ``[teacher] options`` (None: the base
    #: :class:`~pgkd.teachers.options.TeacherOptions`, which lets unknown keys through).
    Options: ClassVar[type[TeacherOptions] | None] = None
    #: True when a call costs nothing per token.
    free: ClassVar[bool] = False
    #: The provider's id in the ``genai-prices`` table; None: no list prices.
    price_provider: ClassVar[str | None] = None
    #: What the provider's batch API (:meth:`batch_api`) charges, as a share of the online
    #: price, where its price table has no batch price of its own; None: no batch API.
    batch_discount: ClassVar[float | None] = None

    def __init__(self, settings: TeacherSettings) -> None:
        self.settings = settings
        self.options = type(self).parse_options(settings)

    @classmethod
    def parse_options(cls, settings: TeacherSettings) -> TeacherOptions:
        """``settings.options`` validated by :attr:`Options` (a ConfigError names the key)."""
        from pgkd.teachers.options import TeacherOptions, parse_options

        model = cls.Options if cls.Options is not None else TeacherOptions
        return parse_options(model, settings.options, cls.provider or settings.provider)

    @classmethod
    def price_for(cls, settings: TeacherSettings) -> Price | None:
        """What this provider's calls cost: the ``price_in``/``price_out`` options when given,
        else nothing for a free provider, else the model's list price (None when unknown)."""
        options = cls.parse_options(settings)
        if options.price_in is not None and options.price_out is not None:
            return Price(
                options.price_in,
                options.price_out,
                options.price_cache_read,
                options.price_cache_write,
            )
        if cls.free:
            return FREE
        if cls.price_provider is None:
            return None
        return list_price(cls.price_provider, settings.model)

    @classmethod
    def batch_price_for(cls, settings: TeacherSettings) -> Price | None:
        """What calls through the batch API cost: the model's batch list price, else the
        online price (:meth:`price_for`, the ``price_in``/``price_out`` options included)
        times :attr:`batch_discount`. None without a batch API or a known price."""
        if cls.batch_discount is None:
            return None
        options = cls.parse_options(settings)
        overridden = options.price_in is not None and options.price_out is not None
        if not overridden and not cls.free and cls.price_provider is not None:
            return batch_list_price(cls.price_provider, settings.model, cls.batch_discount)
        online = cls.price_for(settings)
        return online.scaled(cls.batch_discount) if online is not None else None

    @property
    def name(self) -> str:
        return f"{self.settings.provider}:{self.settings.model}"

    def batch_api(self) -> BatchApi | None:
        """The provider's batch endpoints (``[teacher] batch = true``), or None when it has
        none. A provider that returns one declares :attr:`batch_discount` too."""
        return None

    @abc.abstractmethod
    async def complete(self, request: TeacherRequest) -> TeacherReply:
        """Send one request; raise :class:`TransientTeacherError` for retryable failures and
        :class:`TeacherError` for permanent ones."""

    async def aclose(self) -> None:  # noqa: B027 - optional for teachers that hold nothing
        """Release connections or models."""
