"""How the packaged SmolLM2 behaves as a pgkd teacher on this machine.

Measures load time, seconds per call of N samples under the JSON-schema grammar, how many
answers parse and how many labels fall inside the taxonomy, and the teacher's zero-shot
accuracy on a few test texts. Uses AG News from the shared data sets (pass its folder).

    .venv/bin/python benchmarks/local_teacher.py ../shared/datasets/ag_news --calls 10
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import random
import time
from pathlib import Path
from typing import Any

from pgkd.commands.zeroshot import zero_shot_classify
from pgkd.teachers.base import TeacherRequest, TeacherSettings
from pgkd.teachers.local import LocalTeacher


def read_jsonl(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def answer_schema(n: int, labels: list[str]) -> dict[str, Any]:
    return {
        "type": "array",
        "minItems": n,
        "maxItems": n,
        "items": {
            "type": "object",
            "properties": {
                "text": {"type": "string", "minLength": 1, "maxLength": 400},
                "label": {"type": "string", "enum": labels},
            },
            "required": ["text", "label"],
        },
    }


def generation_prompt(examples: list[dict[str, str]], labels: list[str], n: int) -> str:
    shown = "\n".join(json.dumps(e, ensure_ascii=False) for e in examples)
    return (
        f"Classes: {', '.join(labels)}\n\nLabelled examples:\n{shown}\n\n"
        f"Write {n} new, different news snippets in the same style, spread over the classes, "
        'as a JSON list of {"text": ..., "label": ...} objects.'
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--examples", type=int, default=8)
    parser.add_argument("--zero-shot", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    labels: list[str] = json.loads((args.dataset / "labels.json").read_text())
    train = read_jsonl(args.dataset / "train.jsonl.gz")
    test = read_jsonl(args.dataset / "test.jsonl.gz")
    rng = random.Random(0)
    teacher = LocalTeacher(
        TeacherSettings(
            provider="local",
            model="smollm2",
            options={"n_threads": args.threads, "n_ctx": 4096},
        )
    )
    parsed = in_taxonomy = produced = copies = 0
    seconds: list[float] = []
    texts: list[str] = []
    for call in range(args.calls):
        examples = rng.sample(train, args.examples)
        request = TeacherRequest(
            system="You write labelled training data for a news topic classifier.",
            user=generation_prompt(examples, labels, args.samples),
            schema=answer_schema(args.samples, labels),
            n_samples=args.samples,
            seed=call,
            temperature=0.8,
            max_tokens=2048,
        )
        started = time.perf_counter()
        reply = await teacher.complete(request)
        seconds.append(time.perf_counter() - started)
        try:
            records = json.loads(reply.text)
        except ValueError:
            continue
        parsed += 1
        for record in records:
            produced += 1
            in_taxonomy += record.get("label") in labels
            copies += any(record.get("text") == e["text"] for e in examples)
            texts.append(str(record.get("text")))
        print(f"call {call}: {seconds[-1]:.1f} s, {reply.input_tokens}+{reply.output_tokens} tok")
    print(f"load: {teacher.load_seconds:.2f} s (first call {seconds[0]:.1f} s incl. load)")
    steady = seconds[1:] or seconds
    print(f"seconds per call of {args.samples}: {sum(steady) / len(steady):.1f} (after the first)")
    print(f"parsed answers: {parsed}/{args.calls}; labels in taxonomy: {in_taxonomy}/{produced}")
    print(f"copies of prompt examples: {copies}; distinct texts: {len(set(texts))}/{len(texts)}")

    sample = rng.sample(test, args.zero_shot)
    started = time.perf_counter()
    predicted = await zero_shot_classify(
        teacher, [row["text"] for row in sample], labels, concurrency=2
    )
    elapsed = time.perf_counter() - started
    right = sum(p == row["label"] for p, row in zip(predicted, sample, strict=True))
    named = sum(p != "" for p in predicted)
    print(
        f"zero-shot: accuracy {right}/{len(sample)}, answers naming a label {named}/{len(sample)}, "
        f"{elapsed / len(sample):.2f} s per text"
    )
    await teacher.aclose()


if __name__ == "__main__":
    asyncio.run(main())
