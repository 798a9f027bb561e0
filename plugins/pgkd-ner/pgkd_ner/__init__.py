"""pgkd-ner: named-entity recognition as a pgkd task, packaged as an outside plugin.

The entry point ``ner = "pgkd_ner"`` (group ``pgkd``) registers this module: the ``ner`` task,
the ``ner-token`` student, the entity-level validation report, the NER prompt and the
``ner-pool`` simulation teacher.
"""

from __future__ import annotations

from pgkd_ner.plugin import (
    build_prompt,
    on_eval,
    register_students,
    register_tasks,
    register_teachers,
)

__version__ = "0.1.0"
__all__ = [
    "__version__",
    "build_prompt",
    "on_eval",
    "register_students",
    "register_tasks",
    "register_teachers",
]
