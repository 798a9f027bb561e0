"""The paper's "gradual evaluation checks": the student's validation metrics, as prompt text.

Only aggregate numbers are rendered; no validation sample is ever read here.
"""

from __future__ import annotations

from collections.abc import Mapping

from pgkd.hookspecs import hookimpl
from pgkd.types import Evaluation, StepContext


def render_report(evaluation: Evaluation) -> str:
    metrics = evaluation.metrics
    head = ", ".join(f"{name} {value:.3f}" for name, value in metrics.items())
    lines = [
        f"overall: {head}, loss {evaluation.loss:.3f}",
        "",
        "class | precision | recall | f1 | support",
    ]
    # Weakest classes first: with hundreds of classes the top of the list is what matters.
    ranked = sorted(evaluation.per_class.items(), key=lambda item: (item[1].f1, item[0]))
    for name, score in ranked:
        lines.append(
            f"{name} | {score.precision:.2f} | {score.recall:.2f} | {score.f1:.2f}"
            f" | {score.support}"
        )
    return "\n".join(lines)


@hookimpl(trylast=True)
def on_eval(context: StepContext) -> Mapping[str, str]:
    return {"validation_report": render_report(context.validation)}
