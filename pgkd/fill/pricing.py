"""The price a run's teacher pays, resolved once from its provider class.

Each provider declares its own pricing (:class:`~pgkd.teachers.base.Teacher`: ``free``,
``price_provider``, and the ``price_in``/``price_out`` override in its options); list prices come
from the ``genai-prices`` data (:mod:`pgkd.teachers.prices`). A model without a known price and
without the override has no price: its calls cost 0 and a ``max_cost_usd`` cap refuses to run
(see :class:`~pgkd.fill.usage.Usage`).
"""

from __future__ import annotations

from pgkd.teachers.base import Teacher, TeacherSettings
from pgkd.teachers.prices import Price
from pgkd.teachers.registry import provider_class

__all__ = ["Price", "batch_price_for", "price_for"]


def price_for(
    settings: TeacherSettings, teacher_class: type[Teacher] | None = None
) -> Price | None:
    """The price of ``settings``' teacher; ``teacher_class`` defaults to the built-in class of
    ``settings.provider`` (the base class for a provider a plugin registers)."""
    cls = teacher_class if teacher_class is not None else provider_class(settings.provider)
    return cls.price_for(settings)


def batch_price_for(
    settings: TeacherSettings, teacher_class: type[Teacher] | None = None
) -> Price | None:
    """The price of ``settings``' teacher through its batch API (None without one, or
    without a known price); ``teacher_class`` as in :func:`price_for`."""
    cls = teacher_class if teacher_class is not None else provider_class(settings.provider)
    return cls.batch_price_for(settings)
