"""The entity-level validation report, as text for the teacher prompt. Numbers only: no
validation sentence is ever read here."""

from __future__ import annotations

from pgkd import Evaluation

#: Confused type pairs listed at most.
TOP_CONFUSIONS = 5


def render_entity_report(evaluation: Evaluation) -> str:
    m = evaluation.metrics
    lines = [
        "overall, an entity counts only when its exact span and type are right: "
        f"micro precision {m.get('precision', 0):.3f}, recall {m.get('recall', 0):.3f}, "
        f"F1 {m.get('f1', 0):.3f}; macro F1 {m.get('macro_f1', 0):.3f}; "
        f"sentences with every entity right {m.get('accuracy', 0):.3f}; "
        f"token loss {evaluation.loss:.3f}",
        "",
        "type | precision | recall | f1 | support",
    ]
    ranked = sorted(evaluation.per_class.items(), key=lambda item: (item[1].f1, item[0]))
    for name, s in ranked:
        lines.append(f"{name} | {s.precision:.2f} | {s.recall:.2f} | {s.f1:.2f} | {s.support}")
    confused = confusions(evaluation)
    if confused:
        lines += ["", "Entities found with the right span but the wrong type:"]
        lines += [f"- {gold} tagged as {guess}: {count}" for gold, guess, count in confused]
    return "\n".join(lines)


def confusions(evaluation: Evaluation) -> list[tuple[str, str, int]]:
    """(gold type, predicted type, count) off the confusion matrix's diagonal, most first."""
    labels = evaluation.labels
    pairs = [
        (labels[i], labels[j], count)
        for i, row in enumerate(evaluation.confusion)
        for j, count in enumerate(row)
        if i != j and count > 0 and i < len(labels) and j < len(labels)
    ]
    pairs.sort(key=lambda pair: (-pair[2], pair[0], pair[1]))
    return pairs[:TOP_CONFUSIONS]
