"""Names a module hands out on first use (PEP 562), so importing it stays cheap.

``pgkd`` and ``pgkd.testing`` re-export names whose modules import numpy, pydantic or torch;
each keeps a table ``name -> (module, attribute)`` and gets its ``__getattr__`` and ``__dir__``
from :func:`lazy_names`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(
    module: str, table: Mapping[str, tuple[str, str]], namespace: dict[str, Any]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``module`` whose globals are ``namespace``: a name of
    ``table`` is imported on first use and kept in ``namespace``."""

    def getattr_(name: str) -> object:
        try:
            source, attribute = table[name]
        except KeyError:
            raise AttributeError(f"module {module!r} has no attribute {name!r}") from None
        value: object = getattr(importlib.import_module(source), attribute)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted({*namespace, *table})

    return getattr_, dir_
