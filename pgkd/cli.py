"""``pgkd run | resume | predict | plugins``: input errors print one line, never a traceback."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pgkd.errors import PgkdError

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pgkd",
        description="Distill an LLM teacher into a small, fast text classifier (PGKD).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="start a PGKD run from a TOML config")
    run.add_argument("config", type=Path, help="the run's TOML config")
    run.add_argument("--out", type=Path, required=True, help="the run directory to create")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a config value, e.g. --set kd.steps=3 (repeatable)",
    )
    run.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    run.add_argument("--quiet", action="store_true", help="print only the final summary")

    resume = sub.add_parser("resume", help="continue an interrupted run from its last step")
    resume.add_argument("run_dir", type=Path)
    resume.add_argument("--quiet", action="store_true")

    predict = sub.add_parser("predict", help="label a JSONL/CSV/Parquet file with a student")
    predict.add_argument("model", type=Path, help="a saved student, e.g. RUN_DIR/best")
    predict.add_argument("input", type=Path, help="records with a text field")
    predict.add_argument("--out", type=Path, required=True, help="JSONL or CSV to write")
    predict.add_argument("--text-field", default="text")
    predict.add_argument("--top-k", type=int, default=3)
    predict.add_argument("--batch-size", type=int, default=256)

    sub.add_parser("plugins", help="list loaded plugins and the hooks each implements")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "resume":
            return _resume(args)
        if args.command == "predict":
            return _predict(args)
        if args.command == "plugins":
            return _plugins()
    except PgkdError as exc:
        print(f"pgkd: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pgkd: interrupted; `pgkd resume RUN_DIR` continues from the last step", file=sys.stderr)
        return 130
    return 2


def _run(args: argparse.Namespace) -> int:
    from pgkd.config import load_config
    from pgkd.progress import Progress
    from pgkd.runner import run

    config = load_config(args.config, args.overrides)
    summary = run(config, args.out, overwrite=args.overwrite, progress=Progress.auto(quiet=args.quiet))
    print(format_summary(summary, args.out))
    return 0


def _resume(args: argparse.Namespace) -> int:
    from pgkd.progress import Progress
    from pgkd.runner import SUMMARY_FILE, resume

    if (args.run_dir / SUMMARY_FILE).exists():
        print(f"pgkd: {args.run_dir} already finished; nothing to resume")
        return 0
    summary = resume(args.run_dir, progress=Progress.auto(quiet=args.quiet))
    print(format_summary(summary, args.run_dir))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from pgkd.predict import predict_file

    count = predict_file(
        args.model,
        args.input,
        args.out,
        text_field=args.text_field,
        top_k=args.top_k,
        batch_size=args.batch_size,
    )
    print(f"pgkd: wrote {count} predictions to {args.out}")
    return 0


def _plugins() -> int:
    from pgkd.plugins import build_plugin_manager, describe

    for name, hooks in describe(build_plugin_manager()):
        print(f"{name}: {', '.join(hooks)}")
    return 0


def _scores(block: dict[str, Any] | None) -> str:
    if not block:
        return "-"
    return (
        f"acc {block.get('accuracy', 0):.3f}  macro-F1 {block.get('macro_f1', 0):.3f}  "
        f"loss {block.get('loss', 0):.3f}"
    )


def format_summary(summary: dict[str, Any], run_dir: Path) -> str:
    first, best = summary.get("model_0", {}), summary.get("best", {})
    samples, teacher = summary.get("samples", {}), summary.get("teacher", {})
    rejected = ", ".join(f"{k} {v}" for k, v in samples.get("rejected_by_reason", {}).items())
    stop = summary.get("stop_reason") or "ran all steps"
    lines = [
        "",
        "PGKD run finished",
        f"  steps run     {summary.get('steps_run')} (best: step {summary.get('best_step')}; {stop})",
        f"  model_0 val   {_scores(first.get('val'))}",
        f"  best    val   {_scores(best.get('val'))}",
    ]
    if "test" in first:
        lines += [
            f"  model_0 test  {_scores(first.get('test'))}",
            f"  best    test  {_scores(best.get('test'))}",
        ]
    lines += [
        f"  samples       {samples.get('generated', 0)} generated, {samples.get('accepted', 0)} "
        f"accepted, {samples.get('rejected', 0)} rejected" + (f" ({rejected})" if rejected else ""),
        f"  teacher       {teacher.get('calls', 0)} calls, {teacher.get('failed_calls', 0)} failed, "
        f"{teacher.get('input_tokens', 0)} in / {teacher.get('output_tokens', 0)} out tokens",
        f"  run directory {run_dir}",
        f"  best model    {summary.get('best_model')}",
        f"  try it        pgkd predict {summary.get('best_model')} INPUT.jsonl --out predictions.jsonl",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
