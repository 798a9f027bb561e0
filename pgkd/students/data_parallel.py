"""One process's part in data-parallel fine-tuning, under ``torchrun`` or ``accelerate launch``.

The launcher starts ``WORLD_SIZE`` processes with the same command line. Rank 0 runs the loop
(teacher, journal, run directory, evaluation, saving); every other rank waits for training
requests (:mod:`pgkd.distributed`). A request carries the history to fit; every rank then fits
the same fresh student on it through :class:`~pgkd.students.training.FineTuning`, with the
model wrapped in DistributedDataParallel by ``accelerate``.

How a step is split: all ranks build the same list of global batches (same data, same seed);
rank ``r`` takes rows ``r, r + W, ...`` of each batch and scales its mean loss by
``len(shard) * W / len(batch)``. DDP averages the gradients over the ``W`` ranks, so every rank
steps with the gradient of the whole batch's mean loss (exactly, up to the order of float
additions, for a loss that is a mean over examples), and the weights stay identical on every
rank. A batch smaller than ``W`` leaves some ranks without rows: they run one row with weight 0,
because DDP needs every rank in every backward. ``[student] batch_size`` stays the global batch.

Only the one fit that a request announces is data-parallel (:meth:`DataParallel.claim`): other
fits on rank 0 (out-of-fold scoring) train alone. Validation loss for early stopping is computed
by rank 0 and broadcast, so every rank stops at the same epoch. Every wait has the timeout of
``PGKD_DISTRIBUTED_TIMEOUT`` (seconds); a rank that dies closes its connections, and the others
fail at once rather than wait.

``accelerate`` (``pip install pgkd[distributed]``) and torch are imported when a group starts.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from pgkd.errors import ConfigError, PgkdError
from pgkd.students.device import names_cuda, resolve_device
from pgkd.types import Sample

if TYPE_CHECKING:
    import torch
    from accelerate import Accelerator

TrainedT = TypeVar("TrainedT")

WORLD_SIZE_ENV = "WORLD_SIZE"
RANK_ENV = "RANK"
TIMEOUT_ENV = "PGKD_DISTRIBUTED_TIMEOUT"
#: How long a rank waits for another (a worker for rank 0's next request: a KD step's teacher
#: calls run meanwhile), unless ``PGKD_DISTRIBUTED_TIMEOUT`` says otherwise.
DEFAULT_TIMEOUT_SECONDS = 7200.0


class WorkerStop(PgkdError):
    """Rank 0 said the run is over (or failed) while this rank waited for it."""

    def __init__(self, summary: dict[str, object] | None) -> None:
        super().__init__("rank 0 ended the run" + ("" if summary is not None else " with an error"))
        self.summary = summary


def world_size() -> int:
    """The number of processes the launcher started (1 without a launcher)."""
    return int(os.environ.get(WORLD_SIZE_ENV, "1") or 1)


def launched() -> bool:
    """True under ``torchrun`` / ``accelerate launch`` with more than one process."""
    return world_size() > 1


def rank() -> int:
    """This process's rank as the launcher set it (0 without a launcher)."""
    return int(os.environ.get(RANK_ENV, "0") or 0)


def timeout_seconds() -> float:
    raw = os.environ.get(TIMEOUT_ENV, "")
    if not raw:
        return DEFAULT_TIMEOUT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise ConfigError(
            f"{TIMEOUT_ENV}={raw!r}: not a positive number of seconds; unset it or fix it"
        )
    return value


@dataclass(frozen=True)
class Train:
    """Rank 0 asks every rank to fit a fresh student on ``history``."""

    history: list[Sample]


@dataclass(frozen=True)
class Stop:
    """The run is over: ``summary`` is rank 0's (None when rank 0 failed)."""

    summary: dict[str, object] | None


@dataclass(frozen=True)
class Value:
    """A number rank 0 computed for every rank (the validation loss of an epoch)."""

    value: float


Message = Train | Stop | Value


@dataclass
class DataParallel:
    """This process in the group: its rank, the accelerator, and the messages from rank 0."""

    accelerator: Accelerator
    rank: int
    size: int
    _armed: int | None = field(default=None, init=False)
    _stopped: bool = field(default=False, init=False)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # -- messages from rank 0 ------------------------------------------------------------------

    def _broadcast(self, message: Message | None) -> Message:
        from torch import distributed

        box: list[object] = [message]
        distributed.broadcast_object_list(box, src=0)
        received = box[0]
        if not isinstance(received, Train | Stop | Value):
            raise PgkdError(f"rank {self.rank}: unexpected message from rank 0: {received!r}")
        if isinstance(received, Stop) and not self.is_main:
            raise WorkerStop(received.summary)
        return received

    def request_training(self, history: list[Sample]) -> None:
        """Rank 0: tell every rank to fit on ``history``; the next fit here is data-parallel."""
        self._broadcast(Train(list(history)))
        self._armed = len(history)

    def next_request(self) -> list[Sample]:
        """Another rank: wait for rank 0's next history to fit (``WorkerStop`` at the end)."""
        message = self._broadcast(None)
        if not isinstance(message, Train):
            raise PgkdError(f"rank {self.rank}: expected a training request, got {message!r}")
        self._armed = len(message.history)
        return message.history

    def finish(self, summary: dict[str, object] | None) -> None:
        """Rank 0: release the other ranks (once). Ranks that already exited are no error."""
        if self._stopped or not self.is_main:
            return
        self._stopped = True
        with contextlib.suppress(RuntimeError):  # a rank that failed has closed its socket
            self._broadcast(Stop(summary))

    def announcing(
        self, train: Callable[[list[Sample]], TrainedT]
    ) -> Callable[[list[Sample]], TrainedT]:
        """Rank 0's trainer: broadcast the history, then ``train`` on it (its first fit on the
        whole history is the data-parallel one)."""

        def train_parallel(history: list[Sample]) -> TrainedT:
            self.request_training(history)
            return train(history)

        return train_parallel

    # -- the fit -------------------------------------------------------------------------------

    def claim(self, n_examples: int) -> DataParallel | None:
        """This group for the fit on ``n_examples`` that a request announced, once; None for
        any other fit (those train alone, on this rank only)."""
        if self._armed is None or self._armed != n_examples:
            return None
        self._armed = None
        return self

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` in DistributedDataParallel (weights synchronised from rank 0)."""
        wrapped: torch.nn.Module = self.accelerator.prepare_model(model)
        return wrapped

    def shard(self, batch: list[int]) -> tuple[list[int], float]:
        """This rank's rows of a global batch and the weight of their mean loss."""
        mine = batch[self.rank :: self.size]
        if not mine:
            return batch[:1], 0.0
        return mine, len(mine) * self.size / len(batch)

    def agree(self, compute: Callable[[], float]) -> float:
        """``compute()`` on rank 0, the same number on every rank."""
        if self.is_main:
            return self._broadcast(Value(float(compute()))).value  # type: ignore[union-attr]
        message = self._broadcast(None)
        if not isinstance(message, Value):
            raise PgkdError(f"rank {self.rank}: expected a value from rank 0, got {message!r}")
        return message.value


_GROUP: DataParallel | None = None


def start() -> DataParallel:
    """Join the launcher's process group through ``accelerate`` (gloo on CPUs, NCCL on GPUs)."""
    global _GROUP
    if _GROUP is not None:
        return _GROUP
    try:
        from accelerate import Accelerator
        from accelerate.utils import InitProcessGroupKwargs
    except ImportError:
        raise ConfigError(
            f"{WORLD_SIZE_ENV}={world_size()}: a data-parallel run needs accelerate; "
            "run pip install 'pgkd[distributed]'"
        ) from None
    handler = InitProcessGroupKwargs(timeout=timedelta(seconds=timeout_seconds()))
    # One process per GPU when torch sees CUDA (NCCL), else CPU processes (gloo).
    on_gpu = names_cuda(str(resolve_device()))
    accelerator = Accelerator(cpu=not on_gpu, kwargs_handlers=[handler])
    _GROUP = DataParallel(accelerator, accelerator.process_index, accelerator.num_processes)
    return _GROUP


def current() -> DataParallel | None:
    """The group this process joined, if any."""
    return _GROUP


def claim(n_examples: int) -> DataParallel | None:
    """For a fine-tuning loop: the group when this fit is the announced data-parallel one."""
    return _GROUP.claim(n_examples) if _GROUP is not None else None


def stop() -> None:
    """Leave the process group (end of the run, every rank)."""
    global _GROUP
    if _GROUP is None:
        return
    from torch import distributed

    if distributed.is_initialized():
        distributed.destroy_process_group()
    _GROUP = None
