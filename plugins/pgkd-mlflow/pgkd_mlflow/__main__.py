"""``python -m pgkd_mlflow RUN_DIR``: log a finished run (again) by hand."""

from __future__ import annotations

import sys
from pathlib import Path

from pgkd import PgkdError
from pgkd_mlflow.logger import log_run


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m pgkd_mlflow RUN_DIR", file=sys.stderr)
        return 2
    try:
        run_id = log_run(Path(argv[0]))
    except PgkdError as exc:
        print(f"pgkd-mlflow: error: {exc}", file=sys.stderr)
        return 2
    print(f"pgkd-mlflow: logged {argv[0]} as MLflow run {run_id}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
