"""The shape of the answer a teacher is asked for, as the providers put it on the wire.

An answer is a JSON list of records, or an object ``{"samples": [...]}`` where the wire needs an
object at the root (tool inputs, OpenAI's ``json_schema`` mode). Reading answers is the fill
engine's job (:mod:`pgkd.fill.answer`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Name of the property that holds the records when the answer must be a JSON object.
SAMPLES_KEY = "samples"
#: The tool that tool-calling providers (Anthropic, Bedrock) are made to call with the answer.
TOOL_NAME = "submit_samples"
TOOL_DESCRIPTION = "Submit the generated samples, exactly in the given schema."


def object_schema(schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """``schema`` with an object at its root, as tool inputs and OpenAI's ``json_schema`` mode
    require: a list schema is wrapped as ``{"samples": <list>}`` (which
    :func:`pgkd.fill.answer.parse_answer` unwraps)."""
    if schema is None:
        return {
            "type": "object",
            "properties": {SAMPLES_KEY: {"type": "array", "items": {"type": "object"}}},
            "required": [SAMPLES_KEY],
        }
    if schema.get("type") == "object":
        return dict(schema)
    return {
        "type": "object",
        "properties": {SAMPLES_KEY: dict(schema)},
        "required": [SAMPLES_KEY],
        "additionalProperties": False,
    }
