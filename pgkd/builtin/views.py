"""Per-call views: each teacher call of a KD step gets its own slice of the prompt's example
lists and its own class focus, so calls that run side by side do not write the same texts.

Without views every call of a step is sent the step's prompt, and a model sampling from one
prompt several times writes near-copies of the same few texts (the demo's local teacher had up
to half a step's samples rejected as duplicates). With views, call ``i`` of ``n`` sees every
``n``-th example of each list (few-shot, correct, incorrect, hard negatives), starting at
``i``, topped up to ``min_examples`` by the next ones; so across the step every listed example
reaches some call, and two calls share an example only when a list is too short to split. Each
call is also asked to favour its own share of the labels (weakest first, dealt round the
calls), unless another plugin already planned the call.

How it combines with other ``prepare_call`` plugins: it is a hook *wrapper*. The other plugins
answer first (a user's plugin such as pgkd-budget, which sends each call its own per-class
counts; or none, and the call would get the step's prompt); the view then cuts the example lists
of *that* prompt down to the call's slice. A plan some plugin made keeps its sample count and
its class instructions (no focus line is added to it), since it already says which classes the
call writes. Prompts that do not render the lists as :func:`~pgkd.builtin.prompt.example_block`
or :func:`~pgkd.builtin.rewrite.rewrite_block` does (a user's own prompt plugin, the NER
prompt) are sent as they are. The rewrite prompt gets its slice but no class focus: each of its
texts keeps the label of the example it rewrites.

Exploration: ``explore = s`` sends a share *s* of a step's calls (spread over the step; the
first only at ``s = 1``) a plain prompt instead (:func:`~pgkd.builtin.prompt.plain_prompt`: the
labels and the call's own slice of the few-shot examples, no scores, no error examples), so
part of every batch is ordinary varied data rather than texts like the student's mistakes. Only
calls that would get the built-in PGKD prompt explore; another plugin's plan, the rewrite
prompt and a task plugin's own prompt (NER) are left alone. The default preset sets
``explore = 1`` (every call plain), the measured winner of issue 13's SIMULATION protocol
(benchmarks/RESULTS.md).

``[plugins.options.call_views]``: ``min_examples`` (default 2), ``focus`` (default true) and
``explore`` (0 unless a preset sets it: the default preset's is 1). Turn the whole plugin off
with ``[plugins] disable = ["call_views"]``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, replace

from pgkd.builtin.plugin_options import plugin_table, read_bool, read_int, read_number
from pgkd.builtin.prompt import example_block, is_pgkd_prompt, plain_prompt
from pgkd.builtin.rewrite import is_rewrite_prompt, rewrite_block
from pgkd.hookspecs import hookimpl
from pgkd.types import CallPlan, Example, Prompt, StepContext

__all__ = [
    "NAME",
    "CallViews",
    "ViewOptions",
    "class_focus",
    "explores",
    "view_indices",
    "view_prompt",
]

NAME = "call_views"
#: Renderers of one example list as prompt text; the view looks for each list in these forms.
BlockRenderer = Callable[[Sequence[Example]], str]
#: The built-in prompts' renderers: the paper's prompt and the rewrite prompt.
RENDERERS: tuple[BlockRenderer, ...] = (example_block, rewrite_block)


@dataclass(frozen=True, slots=True)
class ViewOptions:
    min_examples: int = 2
    focus: bool = True
    explore: float = 0.0

    @classmethod
    def from_settings(cls, settings: object) -> ViewOptions:
        table = plugin_table(settings, NAME, ("min_examples", "focus", "explore"))
        return cls(
            min_examples=read_int(table, NAME, "min_examples", 2),
            focus=read_bool(table, NAME, "focus", True),
            explore=float(read_number(table, NAME, "explore", 0.0, high=1.0) or 0.0),
        )


def explores(call: int, share: float) -> bool:
    """Whether call ``call`` of a step is one of the share ``share`` sent a plain prompt:
    calls 1, 3, 5, ... at 0.5; every fourth at 0.25; call 0 only at 1."""
    return share > 0 and math.floor((call + 1) * share + 1e-9) > math.floor(call * share + 1e-9)


def view_indices(size: int, call: int, n_calls: int, minimum: int) -> list[int]:
    """Which of a list's ``size`` items call ``call`` of ``n_calls`` sees: every
    ``n_calls``-th from ``call``, then the items after ``call`` (wrapping round) until it has
    ``minimum`` (or all of them). Ascending."""
    if size == 0:
        return []
    n_calls = max(1, n_calls)
    call %= n_calls
    chosen = list(range(call, size, n_calls))
    want = min(size, max(minimum, len(chosen)))
    for offset in range(size):
        if len(chosen) >= want:
            break
        index = (call + offset) % size
        if index not in chosen:
            chosen.append(index)
    return sorted(chosen)


def class_focus(context: StepContext, call: int, n_calls: int) -> list[str]:
    """The labels call ``call`` of ``n_calls`` is asked to favour: the labels ranked weakest
    first by validation F1 (labels without validation support last), dealt round the calls."""
    labels = list(context.labels)
    if not labels:
        return []
    scores = context.validation.per_class

    def rank(label: str) -> tuple[int, float, str]:
        score = scores.get(label)
        if score is None or score.support <= 0:
            return (1, 0.0, label)
        return (0, score.f1, label)

    ranked = sorted(labels, key=rank)
    n_calls = max(1, n_calls)
    if n_calls > len(ranked):
        return [ranked[call % len(ranked)]]
    return ranked[call % n_calls :: n_calls]


def focus_line(labels: Sequence[str], call: int, n_calls: int) -> str:
    names = ", ".join(json.dumps(label, ensure_ascii=False) for label in labels)
    return (
        f"This is answer {call % n_calls + 1} of {n_calls} to this step; the other answers "
        "see other examples and favour other labels. In this answer, favour these labels: "
        f"{names}."
    )


def view_prompt(
    prompt: Prompt,
    lists: dict[str, list[Example]],
    call: int,
    n_calls: int,
    minimum: int,
    renderers: Sequence[BlockRenderer] = RENDERERS,
) -> Prompt | None:
    """``prompt`` with each example list of ``lists`` that it shows (rendered by one of
    ``renderers``) cut down to the call's slice. Lists are found in the prompt in their given
    order, each after the previous one's place when two render the same text. None when the
    prompt shows none of the lists (a prompt the view does not know)."""
    user = prompt.user
    claimed: list[tuple[int, int, str]] = []
    sliced: dict[str, tuple[Example, ...]] = {}
    for name, examples in lists.items():
        if not examples:
            continue
        keep = view_indices(len(examples), call, n_calls, minimum)
        for render in renderers:
            block = render(examples)
            start = _free_occurrence(user, block, claimed)
            if start is not None:
                kept = [examples[i] for i in keep]
                claimed.append((start, start + len(block), render(kept)))
                sliced[name] = tuple(kept)
                break
    if not claimed:
        return None
    out, position = [], 0
    for start, end, replacement in sorted(claimed):
        out += [user[position:start], replacement]
        position = end
    out.append(user[position:])
    contents = prompt.contents
    if contents is not None:
        # What the call's prompt shows as data follows its text: the call's slices only.
        shown = {name: sliced.get(name, items) for name, items in contents.examples.items()}
        contents = replace(contents, examples=shown)
    return replace(prompt, user="".join(out), contents=contents)


def _free_occurrence(text: str, block: str, claimed: list[tuple[int, int, str]]) -> int | None:
    """The first place of ``block`` in ``text`` that overlaps no claimed span."""
    start = text.find(block)
    while start >= 0:
        end = start + len(block)
        if all(end <= a or start >= b for a, b, _ in claimed):
            return start
        start = text.find(block, start + 1)
    return None


class CallViews:
    """The ``prepare_call`` wrapper that gives each call of a step its own view."""

    @hookimpl(wrapper=True)
    def prepare_call(
        self,
        context: StepContext,
        prompt: Prompt,
        call_index: int,
        n_calls: int,
        n_samples: int,
    ) -> Generator[None, Prompt | CallPlan | None, Prompt | CallPlan | None]:
        planned = yield
        options = ViewOptions.from_settings(context.settings)
        if isinstance(planned, CallPlan):
            base, size, foreign = planned.prompt, planned.n_samples, True
        elif isinstance(planned, Prompt):
            base, size, foreign = planned, n_samples, True
        else:
            base, size, foreign = prompt, n_samples, False
        if size <= 0:
            return planned
        plain = not foreign and is_pgkd_prompt(base)
        lists = {name: list(items) for name, items in context.examples.items()}
        if plain and explores(call_index, options.explore):
            # Its own slice of the few-shot examples, so plain calls differ from one another.
            explored = plain_prompt(context, size)
            viewed_plain = view_prompt(explored, lists, call_index, n_calls, options.min_examples)
            return CallPlan(viewed_plain or explored, size)
        if n_calls <= 1:  # a lone call has nothing to differ from
            return planned
        viewed = view_prompt(base, lists, call_index, n_calls, options.min_examples)
        if viewed is None:
            return planned
        if options.focus and not foreign and not is_rewrite_prompt(base):
            focus = class_focus(context, call_index, n_calls)
            if focus:
                line = focus_line(focus, call_index, n_calls)
                viewed = replace(viewed, user=f"{viewed.user}\n\n{line}")
        if viewed == base:
            return planned
        if isinstance(planned, Prompt):
            return viewed
        return CallPlan(viewed, size)
