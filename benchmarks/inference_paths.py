"""Throughput and agreement of the inference paths of ``pgkd predict`` on one saved student:
torch fp32, torch dynamic int8, ONNX Runtime fp32 and int8 (``pgkd export``).

    .venv/bin/python benchmarks/inference_paths.py runs/report-screenshot/best TEXTS.jsonl[.gz]

Prints texts/s per path, the share of labels that agree with torch fp32, and accuracy when the
rows have a ``label``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from pgkd.serving.export import export_model
from pgkd.serving.inference import load_predictor


def read_rows(path: Path, limit: int) -> list[dict[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for _, line in zip(range(limit), fh, strict=False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("texts", type=Path)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    rows = read_rows(args.texts, args.limit)
    texts = [row["text"] for row in rows]
    with tempfile.TemporaryDirectory() as tmp:
        export_model(args.model, Path(tmp) / "fp32")
        export_model(args.model, Path(tmp) / "int8", quantize="int8")
        paths = {
            "torch fp32": (args.model, None),
            "torch int8": (args.model, "int8"),
            "onnx fp32": (Path(tmp) / "fp32", None),
            "onnx int8": (Path(tmp) / "int8", None),
        }
        reference = None
        for name, (model, quantize) in paths.items():
            predictor = load_predictor(model, quantize=quantize, batch_size=args.batch_size)
            predictor.predict_proba(texts[:32])  # warm-up
            start = time.perf_counter()
            labels = predictor.predict_proba(texts).argmax(axis=1)
            seconds = time.perf_counter() - start
            reference = labels if reference is None else reference
            agree = float(np.mean(labels == reference))
            names = [predictor.labels[i] for i in labels]
            right = np.mean([n == row.get("label") for n, row in zip(names, rows, strict=True)])
            print(
                f"{name:11s} {len(texts) / seconds:8.1f} texts/s   agreement with torch fp32 "
                f"{agree:.3f}   accuracy {right:.3f}"
            )


if __name__ == "__main__":
    main()
