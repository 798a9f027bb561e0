"""Named bundles of setting defaults: ``[kd] preset``.

A preset fills in the keys a config leaves out; a key the user sets (in the file, with
``--set``, or from Python) always wins over the preset's value. One exception by design: the
built-ins a preset turns off (``[plugins] disable``) are *added* to the user's own list, so
``preset = "paper"`` with ``disable = ["hard_negatives"]`` is the paper's ablation (its Table 4)
rather than the paper's method with per-call views back on.

Two presets:

- ``default``: what ships, the best policy measured (benchmarks/RESULTS.md, issue 13): the
  paper's loop (the student evaluated each step, early stopping on validation loss) with every
  teacher call sent a plain prompt (``[plugins.options.call_views] explore = 1.0``: the labels
  and few-shot examples, none of the student's scores or mistakes) and the calibrated
  ``confident_disagreement`` filter on. The guided prompt is one key away (``explore = 0``).
  Changing what ships is an edit of :data:`DEFAULT` here, and the paper's method does not move
  with it.
- ``paper``: the method of the PGKD paper (Di Palo et al., EMNLP 2024) as it describes it, so
  its Tables 2 and 4 can be reproduced. It pins the paper's numbers even where they equal
  today's defaults, so a later change of a default cannot change it.

Where today's default departs from the paper, item by item, and what ``paper`` does about it
(*method*: changes what the teacher is shown or asked, so it belongs in the preset;
*engineering*: makes the same method run safely or cheaply, so both presets keep it):

1. Per-call views (``call_views``): each call of a step gets its own slice of the example lists
   and its own labels to favour. Method: the paper sends one prompt per step. ``paper`` turns
   it off.
2. One call per step (``[teacher] samples_per_call``, default 8, so a step of 32 is four calls):
   method: the paper asks the teacher for the whole batch in one prompt, and four calls sent the
   same prompt write near-copies of one another, where one answer of 32 does not. ``paper``
   asks for 32 per call (the paper's batch) with ``[teacher] max_tokens = 4096`` so an answer
   of 32 samples fits (the output limit of the paper's teacher, Claude 3 Sonnet).
3. History predictions (``[kd] train_predictions``, default ``auto``: out of fold for the
   ``frozen`` student): method, since they decide which examples the prompt shows as correct,
   misclassified and hard negatives. The paper scores the training history with the model
   trained on it (its Algorithm 1, lines 4-5): ``paper`` sets ``in_sample``.
4. The numbers: 32 samples a step, 10 steps, patience 5, 16 few-shot, correct, misclassified
   and hard-negative examples. Method; equal to today's defaults; ``paper`` pins them.
5. The prompt: the guided prompt's sections follow the paper's (taxonomy, few-shot examples,
   validation report, correct, misclassified and hard-negative examples, a JSON answer), in our
   own words, with the report sorted weakest class first and an instruction not to copy the
   examples shown; the paper's prompt is not reproduced word for word, and the rewrite prompt
   is off in both. Method: ``default`` sends every call the plain prompt instead (``call_views``
   ``explore = 1.0``: taxonomy, few-shot examples, the JSON answer), which measured better than
   the guided one in the SIMULATION protocol; ``paper`` sends the guided prompt.
6. Filters: labels outside the taxonomy, empty or over-long texts, duplicates of the history or
   within the batch, and copies of validation or test text are rejected. Engineering: the paper
   parses its teacher's answers and never lets validation text in, and a duplicate teaches the
   student nothing; both keep them. The acceptance filters that reject plausible samples
   (``neighbour_vote``, ``confident_disagreement``, ``teacher_verification``) are not in the
   paper; a test holds ``paper`` to having them off.
7. Stopping: the paper's (best validation loss, stop after ``patience`` steps without
   improvement; the new student is evaluated, where the paper's pseudo-code evaluates the
   previous one) in both; cost-aware stopping is off in both; the teacher budget caps are the
   user's.
8. Retries, re-asks, JSON schema, rate limits, caching, the held-out check of every prompt:
   engineering, in both.
9. Not set by any preset: the student (the paper fine-tunes BERT-base: ``[student] kind =
   "transformer"`` with a local ``bert-base-uncased`` as ``backbone`` reproduces Table 2's
   setting; the packaged frozen MiniLM is ours), the teacher model, and plugins you install or
   load, which apply under any preset.

A preset is data: a TOML-shaped mapping of ``[section] key = value``. Nothing else in pgkd
branches on a preset's name.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ADDITIVE",
    "DEFAULT",
    "DEFAULT_PRESET",
    "PAPER",
    "PRESETS",
    "Preset",
    "apply_preset",
    "preset_comment",
    "preset_lines",
    "strip_preset",
]


@dataclass(frozen=True)
class Preset:
    """A named bundle of setting defaults, shaped like a config file's tables."""

    name: str
    #: One line: what the preset is for.
    description: str
    #: ``{"kd": {"train_predictions": "in_sample"}, "plugins": {"disable": [...]}, ...}``.
    settings: Mapping[str, Mapping[str, Any]]


DEFAULT = Preset(
    "default",
    "what ships: the paper's loop with every call sent a plain prompt (labels and few-shot"
    " examples) and the calibrated confident-disagreement filter",
    {
        "plugins": {
            "options": {
                "confident_disagreement": {"enabled": True},
                "call_views": {"explore": 1.0},
            }
        }
    },
)

PAPER = Preset(
    "paper",
    "the PGKD paper's method: one prompt per step, in-sample history predictions, its numbers",
    {
        "teacher": {"samples_per_call": 32, "max_tokens": 4096},
        "kd": {
            "train_predictions": "in_sample",
            "batch_size": 32,
            "steps": 10,
            "patience": 5,
            "few_shot": 16,
            "correct": 16,
            "incorrect": 16,
            "hard_negatives": 16,
        },
        "plugins": {"disable": ["call_views"]},
    },
)

#: Every preset by name; ``[kd] preset`` must be one of these.
PRESETS: dict[str, Preset] = {preset.name: preset for preset in (DEFAULT, PAPER)}
DEFAULT_PRESET = DEFAULT.name

#: List keys a preset adds to instead of replacing: the built-ins it turns off.
ADDITIVE: frozenset[tuple[str, ...]] = frozenset({("plugins", "disable")})


def apply_preset(preset: Preset, raw: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` (a config's tables, each a plain mapping) with ``preset``'s values filled in
    where ``raw`` has none; lists under :data:`ADDITIVE` keys get the preset's missing items
    appended. ``raw`` is not changed."""
    out = dict(raw)
    for section, values in preset.settings.items():
        given = raw.get(section)
        out[section] = _fill(values, given if isinstance(given, Mapping) else {}, (section,))
    return out


def _fill(preset: Mapping[str, Any], given: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    out = dict(given)
    for key, value in preset.items():
        here = (*path, key)
        if key not in given:
            out[key] = copy.deepcopy(value)
        elif here in ADDITIVE and isinstance(given[key], list):
            out[key] = [*given[key], *(item for item in value if item not in given[key])]
        elif isinstance(value, Mapping) and isinstance(given[key], Mapping):
            out[key] = _fill(value, given[key], here)
    return out


def strip_preset(preset: Preset, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`apply_preset` as far as it can be told from values: ``raw`` without
    the keys that hold ``preset``'s value, and without its items in :data:`ADDITIVE` lists. A key
    the user set to the preset's own value is dropped too (a preset that sets it again gives it
    back)."""
    out = dict(raw)
    for section, values in preset.settings.items():
        given = raw.get(section)
        if isinstance(given, Mapping):
            out[section] = _strip(values, given, (section,))
    return out


def _strip(preset: Mapping[str, Any], given: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    out = dict(given)
    for key, value in preset.items():
        here = (*path, key)
        if key not in given:
            continue
        if here in ADDITIVE and isinstance(given[key], list):
            out[key] = [item for item in given[key] if item not in value]
        elif isinstance(value, Mapping) and isinstance(given[key], Mapping):
            out[key] = _strip(value, given[key], here)
            if not out[key]:
                del out[key]
        elif given[key] == value:
            del out[key]
    return out


def preset_lines(preset: Preset, resolved: Mapping[str, Any]) -> list[str]:
    """What ``preset`` set in ``resolved`` (a config's TOML data), one line a key, for the run
    directory's ``config.toml`` and the dry run: ``kd.steps = 10``, or the value given over it."""
    lines: list[str] = []
    for path, value in _leaves(preset.settings, ()):
        found = _lookup(resolved, path)
        key = ".".join(path)
        if path in ADDITIVE and isinstance(value, list):
            kept = isinstance(found, list) and all(item in found for item in value)
            lines.append(f"{key} includes {_show(value)}" if kept else f"{key}: {_show(found)}")
        elif found == value:
            lines.append(f"{key} = {_show(value)}")
        else:
            lines.append(f"{key} = {_show(found)} (set explicitly; the preset's is {_show(value)})")
    return lines


def _leaves(tree: Mapping[str, Any], path: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    out: list[tuple[tuple[str, ...], Any]] = []
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out += _leaves(value, (*path, key))
        else:
            out.append(((*path, key), value))
    return out


def _lookup(tree: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = tree
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    return repr(value)


def preset_comment(resolved: Mapping[str, Any]) -> str:
    """TOML comment lines naming the preset of ``resolved`` (a config's TOML data) and what it
    set, for the head of a run directory's ``config.toml``."""
    kd = resolved.get("kd")
    name = kd.get("preset", DEFAULT_PRESET) if isinstance(kd, Mapping) else DEFAULT_PRESET
    preset = PRESETS[name]
    lines = [f'[kd] preset = "{name}": {preset.description}.']
    shown = preset_lines(preset, resolved)
    if shown:
        lines.append("It set these keys (a key given explicitly wins over the preset's):")
        lines += [f"  {line}" for line in shown]
    else:
        lines.append("It sets no key: each value below is pgkd's default or was given.")
    return "".join(f"# {line}\n" for line in lines) + "\n"
