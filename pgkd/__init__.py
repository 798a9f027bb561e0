"""pgkd: Performance-Guided Knowledge Distillation of an LLM into a small, fast classifier."""

from __future__ import annotations

from pgkd.hookspecs import hookimpl, hookspec

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl", "hookspec"]
