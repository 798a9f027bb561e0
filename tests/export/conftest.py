from __future__ import annotations

from pathlib import Path

import pytest

from tests.predict.tiny_students import build_students


@pytest.fixture(scope="session")
def students(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_students(tmp_path_factory.getbasetemp() / "tiny-students")
