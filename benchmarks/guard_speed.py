"""Building the held-out guard: the hashed index of ``pgkd.guard`` against the string n-gram
index it replaced, on the same texts in one process.

    .venv/bin/python benchmarks/guard_speed.py --dataset imdb --split test

Reports build time and query time of both as a ratio (reference / hashed), the peak memory
(tracemalloc) of each build, and whether both indexes answer every probe the same way. Probes
are near-copies of held-out texts (words dropped, replaced or added), texts of the other split,
and prompts carrying held-out passages of 4 to 9 words. Peak memory is measured in a second
build of each index, so tracemalloc's slowdown does not enter the times.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import random
import sys
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.tables import command_line, machine_line, markdown_table, write_section  # noqa: E402
from pgkd.guard import PROMPT_NGRAM, SHINGLE, HeldOutGuard, normalize  # noqa: E402
from pgkd.testing import shared_datasets  # noqa: E402

DATASETS = shared_datasets()


class Guard(Protocol):
    def copy_kind(self, text: str) -> str | None: ...
    def leaks(self, text: str) -> bool: ...
    def __len__(self) -> int: ...


def _ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


class StringNgramGuard:
    """The reference: ``HeldOutGuard`` as it was, n-grams kept as tuples of strings."""

    def __init__(self, texts: Iterable[str], *, near_copy_threshold: float = 0.8) -> None:
        self.threshold = near_copy_threshold
        self._exact: set[str] = set()
        self._shingles: list[set[tuple[str, ...]]] = []
        self._index: dict[tuple[str, ...], list[int]] = defaultdict(list)
        self._prompt_grams: set[tuple[str, ...]] = set()
        self._short: set[str] = set()
        for text in texts:
            self._add(normalize(text))

    def _add(self, norm: str) -> None:
        if not norm or norm in self._exact:
            return
        self._exact.add(norm)
        words = norm.split()
        shingles = _ngrams(words, SHINGLE) if len(words) >= SHINGLE else {tuple(words)}
        ident = len(self._shingles)
        self._shingles.append(shingles)
        for gram in shingles:
            self._index[gram].append(ident)
        if len(words) >= PROMPT_NGRAM:
            self._prompt_grams |= _ngrams(words, PROMPT_NGRAM)
        elif len(words) >= 4:
            self._short.add(norm)

    def __len__(self) -> int:
        return len(self._exact)

    def copy_kind(self, text: str) -> str | None:
        norm = normalize(text)
        if not norm:
            return None
        if norm in self._exact:
            return "exact"
        words = norm.split()
        shingles = _ngrams(words, SHINGLE) if len(words) >= SHINGLE else {tuple(words)}
        overlap: dict[int, int] = defaultdict(int)
        for gram in shingles:
            for ident in self._index.get(gram, ()):
                overlap[ident] += 1
        for ident, shared in overlap.items():
            union = len(shingles) + len(self._shingles[ident]) - shared
            if union and shared / union >= self.threshold:
                return "near"
        return None

    def leaks(self, text: str) -> bool:
        words = normalize(text).split()
        if self._prompt_grams and not self._prompt_grams.isdisjoint(_ngrams(words, PROMPT_NGRAM)):
            return True
        return any(
            " ".join(words[i : i + n]) in self._short
            for n in range(4, PROMPT_NGRAM)
            for i in range(len(words) - n + 1)
        )


def read_texts(path: Path, limit: int | None = None) -> list[str]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        rows = (json.loads(line)["text"] for line in lines if line.strip())
        return [text for _, text in zip(range(limit or sys.maxsize), rows, strict=False)]


def near_copies(texts: Sequence[str], rng: random.Random) -> list[str]:
    """Each text with 1 to 8 word edits (drop, replace, insert), in its own casing."""
    out = []
    for text in texts:
        words = text.split()
        for _ in range(rng.randint(1, 8)):
            if not words:
                break
            at = rng.randrange(len(words))
            edit = rng.choice(("drop", "replace", "insert"))
            if edit == "drop":
                del words[at]
            elif edit == "replace":
                words[at] = "zebra"
            else:
                words.insert(at, "indeed")
        out.append(" ".join(words).upper() if rng.random() < 0.2 else " ".join(words))
    return out


def leak_prompts(texts: Sequence[str], rng: random.Random) -> list[str]:
    """Prompts quoting a run of 4 to 9 words of a held-out text between other words."""
    out = []
    for text in texts:
        words = normalize(text).split()
        n = rng.randint(4, 9)
        at = rng.randrange(max(len(words) - n, 0) + 1)
        passage = " ".join(words[at : at + n])
        out.append(f'Labels: a, b. Examples:\n- "{passage.title()}!" -> a\nWrite 8 more.')
    return out


@dataclass(frozen=True)
class Probes:
    copies: list[str]
    prompts: list[str]


def make_probes(held: Sequence[str], other: Sequence[str], n: int, seed: int = 0) -> Probes:
    rng = random.Random(seed)
    picked = rng.sample(list(held), min(n, len(held)))
    exact = [text.lower() + " !" for text in picked[: n // 10]]
    copies = exact + near_copies(picked, rng) + list(other[:n])
    prompts = leak_prompts(picked, rng) + [f"Write about: {text}" for text in other[: n // 2]]
    return Probes(copies=copies, prompts=prompts)


def answers(guard: Guard, probes: Probes) -> tuple[list[str | None], list[bool]]:
    return [guard.copy_kind(t) for t in probes.copies], [guard.leaks(t) for t in probes.prompts]


def timed(make: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = make()
    return time.perf_counter() - start, result


def memory_mb(make: Callable[[], Any]) -> tuple[float, float]:
    """Peak memory while ``make`` runs and memory its result keeps, in MB (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        kept = make()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del kept
    return peak / 2**20, current / 2**20


def measure(texts: Sequence[str], probes: Probes) -> dict[str, Any]:
    row: dict[str, Any] = {"texts": len(texts), "probes": len(probes.copies) + len(probes.prompts)}
    found: dict[str, tuple[list[str | None], list[bool]]] = {}
    for name, kind in (("reference", StringNgramGuard), ("hashed", HeldOutGuard)):
        seconds, guard = timed(lambda kind=kind: kind(texts))
        row[f"{name}_build_s"] = seconds
        row[f"{name}_query_s"], found[name] = timed(lambda guard=guard: answers(guard, probes))
        row[f"{name}_indexed"] = len(guard)
        del guard
        row[f"{name}_peak_mb"], row[f"{name}_kept_mb"] = memory_mb(lambda kind=kind: kind(texts))
    row["build_ratio"] = row["reference_build_s"] / row["hashed_build_s"]
    row["query_ratio"] = row["reference_query_s"] / row["hashed_query_s"]
    row["memory_ratio"] = row["reference_peak_mb"] / row["hashed_peak_mb"]
    kinds, leaks = found["reference"]
    row["same_decisions"] = found["hashed"] == found["reference"]
    row["near"] = kinds.count("near")
    row["exact"] = kinds.count("exact")
    row["leaks"] = sum(leaks)
    return row


def section(row: dict[str, Any], name: str, argv: Sequence[str] | None) -> str:
    table = markdown_table(
        ["index", "build", "peak memory of the build", "memory kept", "probes answered"],
        [
            [
                "string n-grams (reference)",
                "1×",
                f"{row['reference_peak_mb']:,.0f} MB",
                f"{row['reference_kept_mb']:,.0f} MB",
                "1×",
            ],
            [
                "hashed (`pgkd.guard`)",
                f"{row['build_ratio']:.1f}× as fast",
                f"{row['hashed_peak_mb']:,.0f} MB ({row['memory_ratio']:.1f}× less)",
                f"{row['hashed_kept_mb']:,.0f} MB",
                f"{row['query_ratio']:.1f}× as fast",
            ],
        ],
    )
    same = "the same" if row["same_decisions"] else "DIFFERENT"
    return "\n\n".join(
        [
            f"`{command_line('guard_speed.py', argv)}`",
            table,
            f"{row['texts']:,} held-out texts ({name}); {row['probes']:,} probes ({row['exact']} "
            f"exact and {row['near']} near copies, {row['leaks']} leaking prompts by the "
            f"reference): {same} decisions. Times are ratios of wall time in one process; "
            "memory is tracemalloc's, in a second build of each.",
            machine_line(),
        ]
    )


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=Path("imdb"), help="name or folder")
    parser.add_argument("--split", choices=["test", "train"], default="test")
    parser.add_argument("--limit", type=int, help="index only the first N texts")
    parser.add_argument("--probes", type=int, default=500, help="held-out texts to probe with")
    parser.add_argument("--json", action="store_true", help="print the raw numbers as JSON")
    parser.add_argument("--results", type=Path, help="write the section into this RESULTS.md")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    folder = args.dataset if args.dataset.is_dir() else DATASETS / str(args.dataset)
    other = "train" if args.split == "test" else "test"
    texts = read_texts(folder / f"{args.split}.jsonl.gz", args.limit)
    probes = make_probes(texts, read_texts(folder / f"{other}.jsonl.gz", args.probes), args.probes)
    row = measure(texts, probes)
    if args.json:
        print(json.dumps(row, indent=2))
    body = section(row, f"{folder.name} {args.split}", argv)
    print(f"\n## Held-out guard build\n\n{body}")
    if args.results:
        write_section("Held-out guard build", body, args.results)
    return row


if __name__ == "__main__":
    main()
