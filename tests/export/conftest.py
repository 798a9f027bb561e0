from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "predict"))

from tiny_students import build_students


@pytest.fixture(scope="session")
def students(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_students(tmp_path_factory.getbasetemp() / "tiny-students")
