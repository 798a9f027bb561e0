"""``pgkd run | resume | report | predict | export | compare | plugins``: input errors print one
line, never a traceback."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pgkd import __version__
from pgkd.errors import PgkdError

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Busy-waiting OpenMP threads made 2-thread torch 6-12x slower on a loaded 2-core machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pgkd",
        description="Distill an LLM teacher into a small, fast text classifier (PGKD).",
    )
    parser.add_argument("--version", action="version", version=f"pgkd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="start a PGKD run from a TOML config")
    run.add_argument("config", type=Path, help="the run's TOML config")
    run.add_argument(
        "--out", type=Path, help="the run directory to create (required unless --dry-run)"
    )
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
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="train model_0, print the first prompt and estimate calls, tokens and cost of the "
        "whole run; calls no teacher and writes nothing",
    )

    resume = sub.add_parser("resume", help="continue an interrupted run from its last step")
    resume.add_argument("run_dir", type=Path, help="the --out of the interrupted run")
    resume.add_argument(
        "--config",
        type=Path,
        help="the config you mean to continue with; refused if it differs from the run's",
    )
    resume.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="overrides you mean to continue with; refused if they change the run's config",
    )
    resume.add_argument("--quiet", action="store_true", help="print only the final summary")

    report = sub.add_parser("report", help="write a run's report.html (plots, samples, costs)")
    report.add_argument("run_dir", type=Path, help="a run directory (finished or not)")
    report.add_argument(
        "--out", type=Path, help="where to write the page (default: RUN_DIR/report.html)"
    )

    predict = sub.add_parser(
        "predict",
        help="run a saved student over a JSONL/CSV/Parquet file, streamed in chunks: top-k "
        "labels for a classifier, its task's records (e.g. NER entities) otherwise",
    )
    predict.add_argument(
        "model", type=Path, help="a run directory, its best/ folder, or a `pgkd export` folder"
    )
    predict.add_argument(
        "input",
        help="JSONL, CSV/TSV (optionally .gz) or Parquet; with --engine ray also a folder of "
        "such files or a URL Ray reads (s3://..., gs://...)",
    )
    predict.add_argument(
        "--out",
        required=True,
        help="output file: .jsonl, .csv (nested fields as JSON text) or .parquet; with --engine "
        "ray a new folder of .jsonl or .parquet shards named so (local or a URL)",
    )
    predict.add_argument("--text-field", default="text", help="input field holding the text")
    predict.add_argument(
        "--top-k",
        type=int,
        help="classifiers only: labels with probabilities per row (default 3)",
    )
    predict.add_argument("--batch-size", type=int, default=64, help="texts per forward pass")
    predict.add_argument(
        "--chunk-rows", type=int, default=2048, help="rows read and held in memory at once"
    )
    predict.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="FIELD",
        help="copy this input field (e.g. an id) to the output (repeatable)",
    )
    predict.add_argument("--no-text", action="store_true", help="leave the text out of the output")
    predict.add_argument(
        "--quantize",
        choices=["int8"],
        help="torch dynamic int8 quantization of a frozen or transformer student (faster on CPU)",
    )
    predict.add_argument(
        "--device",
        default="auto",
        help="where a torch student runs: auto (the best device torch sees), cpu, cuda, "
        "cuda:N or mps",
    )
    predict.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local: this process, streamed in chunks (default); ray: Ray Data over --workers "
        "actors, each loading the student once (pip install 'pgkd[ray]')",
    )
    predict.add_argument(
        "--address",
        help="--engine ray: the Ray cluster to join (e.g. ray://head:10001); default: start a "
        "local Ray for this command",
    )
    predict.add_argument(
        "--workers", type=int, default=2, help="--engine ray: worker actors (default 2)"
    )
    predict.add_argument(
        "--worker-threads", type=int, default=1, help="--engine ray: torch threads per worker"
    )
    predict.add_argument(
        "--worker-cpus",
        type=float,
        help="--engine ray: CPUs Ray reserves per worker (default 1 on a cluster; a share "
        "that leaves room for reading on a local Ray)",
    )
    predict.add_argument("--quiet", action="store_true", help="no progress output")

    export = sub.add_parser(
        "export", help="export a run's best classifier student to ONNX for onnxruntime"
    )
    export.add_argument("run_dir", type=Path, help="a run directory or a saved student folder")
    export.add_argument("--format", default="onnx", choices=["onnx"], help="export format")
    export.add_argument(
        "--quantize", choices=["int8"], help="int8 weights (onnxruntime dynamic quantization)"
    )
    export.add_argument(
        "--out", type=Path, help="folder to write (default: RUN_DIR/onnx or RUN_DIR/onnx-int8)"
    )

    compare = sub.add_parser(
        "compare",
        help="label held-out texts with a run's best student and its teacher (zero-shot): "
        "accuracy, macro-F1, agreement and speed of each; writes RUN_DIR/compare.json",
    )
    compare.add_argument("run_dir", type=Path, help="a classification run directory")
    compare.add_argument(
        "--split",
        default="test",
        choices=["test", "validation"],
        help="texts to compare on (default test; validation when the run has no test split)",
    )
    compare.add_argument(
        "--limit", type=int, default=200, help="texts drawn from the split (default 200)"
    )
    compare.add_argument("--seed", type=int, default=0, help="seeds which texts are drawn")
    compare.add_argument(
        "--teacher",
        metavar="PROVIDER:MODEL",
        help="compare against this LLM instead of the run's teacher (e.g. openai:gpt-4o-mini)",
    )
    compare.add_argument(
        "--base-url", help="the teacher's server, for an OpenAI-compatible one (vLLM, Ollama)"
    )
    compare.add_argument(
        "--batch",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="ask the teacher through its provider's batch API, at half price; answers take "
        "as long as the provider's job (default: the run's [teacher] batch)",
    )
    compare.add_argument("--json", action="store_true", help="print compare.json, not a table")

    sub.add_parser("plugins", help="list loaded plugins and the hooks each implements")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "resume":
            return _resume(args)
        if args.command == "report":
            return _report(args)
        if args.command == "predict":
            return _predict(args)
        if args.command == "export":
            return _export(args)
        if args.command == "compare":
            return _compare(args)
        if args.command == "plugins":
            return _plugins()
    except PgkdError as exc:
        print(f"pgkd: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "pgkd: interrupted; `pgkd resume RUN_DIR` continues from the last step", file=sys.stderr
        )
        return 130
    return 2


def _run(args: argparse.Namespace) -> int:
    from pgkd.config import load_config
    from pgkd.distributed import worker
    from pgkd.progress import Progress
    from pgkd.runner import run

    config = load_config(args.config, args.overrides)
    if args.dry_run:
        return _dry_run(config, args)
    if args.out is None:
        raise PgkdError("pgkd run: --out RUN_DIR is required (or pass --dry-run)")
    summary = run(
        config, args.out, overwrite=args.overwrite, progress=Progress.auto(quiet=args.quiet)
    )
    if not worker():  # under a launcher, rank 0 alone reports
        print(format_summary(summary, args.out))
    return 0


def _resume(args: argparse.Namespace) -> int:
    from pgkd.config import load_config
    from pgkd.distributed import worker
    from pgkd.progress import Progress
    from pgkd.runner import SUMMARY_FILE, RunDirectory, resume

    run_dir = RunDirectory(args.run_dir)
    changed = None
    if args.config is not None or args.overrides:
        # The run's own config.toml is resolved already: its preset is not applied again.
        source = args.config or run_dir.config_path
        changed = load_config(source, args.overrides, apply_preset=args.config is not None)
        run_dir.check_resumable(run_dir.load_config(), changed)
    if (args.run_dir / SUMMARY_FILE).exists():
        print(f"pgkd: {args.run_dir} already finished; nothing to resume")
        return 0
    summary = resume(args.run_dir, changed=changed, progress=Progress.auto(quiet=args.quiet))
    if not worker():  # under a launcher, rank 0 alone reports
        print(format_summary(summary, args.run_dir))
    return 0


def _dry_run(config: Any, args: argparse.Namespace) -> int:
    from pgkd.commands.dryrun import dry_run, format_dry_run
    from pgkd.progress import Progress

    estimate = dry_run(config, progress=Progress.auto(quiet=args.quiet))
    print(format_dry_run(estimate, config))
    return 0


def _report(args: argparse.Namespace) -> int:
    from pgkd.report import write_report

    print(f"pgkd: wrote {write_report(args.run_dir, args.out)}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from pgkd.progress import Progress
    from pgkd.serving.predict import PredictOptions, predict_file

    progress = Progress.auto(quiet=args.quiet)
    options = PredictOptions(
        text_field=args.text_field,
        top_k=args.top_k,
        batch_size=args.batch_size,
        chunk_rows=args.chunk_rows,
        keep=tuple(args.keep),
        include_text=not args.no_text,
        quantize=args.quantize,
        device=args.device,
        progress=progress.task("predict", unit="rows"),
    )
    if args.engine == "ray":
        progress.close()
        return _predict_on_ray(args, options)
    ray_only = {"--address": args.address, "--worker-cpus": args.worker_cpus}
    given = [flag for flag, value in ray_only.items() if value is not None]
    if given:
        progress.close()
        raise PgkdError(f"{', '.join(given)}: only with --engine ray; add it or drop them")
    try:
        count = predict_file(args.model, Path(args.input), Path(args.out), options)
    finally:
        progress.close()
    print(f"pgkd: wrote {count} predictions to {args.out}")
    return 0


def _predict_on_ray(args: argparse.Namespace, options: Any) -> int:
    from dataclasses import replace

    from pgkd.serving.ray_predict import RayOptions, predict_with_ray

    ray_options = RayOptions(
        address=args.address,
        workers=args.workers,
        threads=args.worker_threads,
        worker_cpus=args.worker_cpus,
        quiet=args.quiet,
    )
    local = replace(options, progress=None)
    count = predict_with_ray(args.model, args.input, args.out, local, ray_options)
    print(f"pgkd: wrote {count} predictions in shards under {args.out}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from pgkd.serving.export import export_model

    default = args.run_dir / ("onnx-int8" if args.quantize else "onnx")
    path = export_model(args.run_dir, args.out or default, fmt=args.format, quantize=args.quantize)
    print(f"pgkd: wrote {path} (run it with `pgkd predict {path.parent} INPUT --out OUTPUT`)")
    return 0


def _compare(args: argparse.Namespace) -> int:
    import json

    from pgkd.commands.compare import compare_run, format_comparison

    result = compare_run(
        args.run_dir,
        split=args.split,
        limit=args.limit,
        seed=args.seed,
        teacher_model=args.teacher,
        base_url=args.base_url,
        batch=args.batch,
    )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_comparison(result, args.run_dir))
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
        f"  steps run     {summary.get('steps_run')} "
        f"(best: step {summary.get('best_step')}; {stop})",
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
        f"  teacher       {teacher.get('calls', 0)} calls, "
        f"{teacher.get('failed_calls', 0)} failed, "
        f"{teacher.get('input_tokens', 0)} in / {teacher.get('output_tokens', 0)} out tokens",
        f"  run directory {run_dir}",
        f"  best model    {summary.get('best_model')}",
    ]
    # `pgkd predict` runs classifiers and every plugin student that writes its own records;
    # a summary that says the best student cannot predict (``"predicts": false``) skips it.
    if summary.get("predicts", True):
        lines.append(
            f"  try it        pgkd predict {summary.get('best_model')} INPUT.jsonl "
            "--out predictions.jsonl"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
