"""The parts of a data-parallel run that need no second process: how a batch is split over
ranks, which fit is the data-parallel one, the launcher's environment, and the refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pgkd.build import build_plugins, check_data_parallel
from pgkd.config import config_from_mapping
from pgkd.errors import ConfigError
from pgkd.students import data_parallel
from pgkd.students.data_parallel import DataParallel


def group(rank: int, size: int) -> DataParallel:
    accelerator: Any = None  # the split and the claim never touch it
    return DataParallel(accelerator, rank, size)


@pytest.mark.parametrize("batch_size", [1, 2, 3, 7, 16])
@pytest.mark.parametrize("size", [2, 3])
def test_shards_cover_the_batch_once_and_their_weights_give_its_mean(
    batch_size: int, size: int
) -> None:
    batch = list(range(100, 100 + batch_size))
    rows: list[int] = []
    total = 0.0
    for rank in range(size):
        shard, weight = group(rank, size).shard(batch)
        assert shard and set(shard) <= set(batch)
        if weight:
            rows.extend(shard)
        # DDP averages over ranks: sum(weight * mean over shard) / size must be the batch mean
        # of a loss that is 1 per row, so the weights add up to `size`.
        total += weight
    assert sorted(rows) == batch
    assert total == pytest.approx(size)


def test_a_rank_without_rows_runs_one_row_that_does_not_count() -> None:
    assert group(2, 3).shard([5, 6]) == ([5], 0.0)


def test_only_the_announced_fit_is_data_parallel() -> None:
    main = group(0, 2)
    assert main.claim(10) is None
    main._armed = 10  # what request_training sets after its broadcast
    assert main.claim(9) is None  # an out-of-fold fit on part of the history trains alone
    assert main.claim(10) is main
    assert main.claim(10) is None


def test_the_launcher_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    assert not data_parallel.launched() and data_parallel.rank() == 0
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert data_parallel.launched() and data_parallel.rank() == 1
    monkeypatch.setenv("PGKD_DISTRIBUTED_TIMEOUT", "30")
    assert data_parallel.timeout_seconds() == 30.0
    monkeypatch.setenv("PGKD_DISTRIBUTED_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="PGKD_DISTRIBUTED_TIMEOUT='soon'"):
        data_parallel.timeout_seconds()


def test_a_frozen_student_is_refused_and_a_transformer_accepted(tmp_path: Path) -> None:
    def config(kind: str) -> Any:
        return config_from_mapping(
            {"data": {"train": str(tmp_path / "train.jsonl")}, "student": {"kind": kind}}
        )

    registry = build_plugins(config("frozen"))[1]
    with pytest.raises(ConfigError, match=r'kind = "frozen" does not train data-parallel'):
        check_data_parallel(config("frozen"), registry)
    check_data_parallel(config("transformer"), registry)
