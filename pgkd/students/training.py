"""The fine-tuning loop of transformer students, for pgkd's own and for plugins'.

AdamW with weight decay, linear warmup and decay, length-bucketed batches, gradient clipping,
the student's device and autocast (:mod:`pgkd.students.device`: bf16, or fp16 with a gradient
scaler on CUDA; on the CPU fp32 unless bf16 is asked for), early stopping on validation loss
with the best epoch's weights kept in memory and put back, and a progress report per step.
What differs between students is how a batch of their data becomes model inputs and targets,
and how the loss is computed from the logits: :class:`FineTuning` takes both as functions.
pgkd's sequence classifier (:mod:`pgkd.students.transformer`) and the NER plugin's token
classifier train through it.

A student's ``fit`` calls :func:`prepare_training` before it builds its model (so a fresh
head's weights depend only on the seed), encodes its data, then runs :meth:`FineTuning.run`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from pgkd.students.backbone import apply_threads
from pgkd.students.base import FitReport, ProgressCallback, StudentSettings
from pgkd.students.data_parallel import DataParallel, claim
from pgkd.students.device import Placement, Precision

WEIGHT_DECAY = 0.01
WARMUP_RATIO = 0.06
MAX_GRAD_NORM = 1.0
#: Batches per length-sorted bucket: more means less padding, fewer means more shuffling.
BUCKET_BATCHES = 16

StateDict = dict[str, torch.Tensor]
#: One training batch as the model takes it: keyword inputs (``input_ids``, ``attention_mask``,
#: padded to the batch's longest row) and the targets the loss compares the logits with.
ModelBatch = tuple[dict[str, torch.Tensor], torch.Tensor]


def prepare_training(settings: StudentSettings, seed: int) -> float:
    """Honour ``[student] threads`` and seed torch; returns the start time of the fit."""
    started = time.perf_counter()
    apply_threads(settings)
    torch.manual_seed(seed)
    return started


def bucketed_batches(
    lengths: Sequence[int], batch_size: int, generator: torch.Generator
) -> list[list[int]]:
    """One epoch's batches: shuffle, sort each bucket of ``BUCKET_BATCHES`` batches by length,
    cut it into batches, then shuffle the batch order. Similar lengths share a batch (little
    padding) while every epoch still sees different batches."""
    order = torch.randperm(len(lengths), generator=generator).tolist()
    bucket = batch_size * BUCKET_BATCHES
    batches: list[list[int]] = []
    for start in range(0, len(order), bucket):
        chunk = sorted(order[start : start + bucket], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    shuffle = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffle]


def linear_schedule(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


def snapshot(model: torch.nn.Module) -> StateDict:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


@dataclass
class EpochEarlyStopping:
    patience: int
    best_loss: float = math.inf
    best_epoch: int = 0
    best_state: StateDict | None = None

    def update(self, epoch: int, loss: float, model: torch.nn.Module) -> bool:
        """Record an epoch; True when training should stop."""
        if loss < self.best_loss:
            self.best_loss, self.best_epoch, self.best_state = loss, epoch, snapshot(model)
            return False
        return epoch - self.best_epoch >= self.patience


@dataclass
class FineTuning:
    """How one student fine-tunes its model.

    ``encode_batch`` turns indices into the training data into a :data:`ModelBatch` (on the
    CPU; the loop moves it to the device); ``loss`` takes the model's logits (as float32) and the
    batch's targets and returns the mean loss. ``placement`` is where the model trains (it is
    moved there); without one, the CPU with bf16 autocast when ``bf16``.
    """

    model: torch.nn.Module
    settings: StudentSettings
    seed: int
    encode_batch: Callable[[list[int]], ModelBatch]
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    bf16: bool = False
    placement: Placement | None = None
    scaler: torch.amp.GradScaler | None = field(init=False, default=None)
    #: Set by :meth:`run` when this fit is a data-parallel one (:mod:`pgkd.students.data_parallel`).
    parallel: DataParallel | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.placement is None:
            cpu = torch.device("cpu")
            self.placement = Placement(cpu, Precision("bf16" if self.bf16 else None))
        self.model = self.placement.place(self.model)
        self.scaler = self.placement.grad_scaler()

    def run(
        self,
        lengths: Sequence[int],
        validation_loss: Callable[[], float] | None,
        progress: ProgressCallback | None,
        started: float,
    ) -> FitReport:
        """Train on the examples whose token counts are ``lengths`` for up to ``[student]
        epochs``, stopping early when ``validation_loss()`` (None without validation data) has
        not improved for ``patience`` epochs; the best epoch's weights are put back."""
        self.parallel = claim(len(lengths))
        stopping, epochs_run = self._epochs(lengths, validation_loss, progress)
        if stopping.best_state is not None and stopping.best_epoch != epochs_run:
            self.model.load_state_dict(stopping.best_state)
        return FitReport(
            epochs_run=epochs_run,
            best_epoch=stopping.best_epoch or epochs_run,
            best_validation_loss=stopping.best_loss if validation_loss is not None else math.nan,
            seconds=time.perf_counter() - started,
        )

    def _epochs(
        self,
        lengths: Sequence[int],
        validation_loss: Callable[[], float] | None,
        progress: ProgressCallback | None,
    ) -> tuple[EpochEarlyStopping, int]:
        settings = self.settings
        generator = torch.Generator().manual_seed(self.seed)
        per_epoch = math.ceil(len(lengths) / settings.batch_size)
        total = per_epoch * settings.epochs
        forward = self.parallel.wrap(self.model) if self.parallel else self.model
        optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=settings.learning_rate, weight_decay=WEIGHT_DECAY
        )
        schedule = linear_schedule(total, max(1, math.ceil(WARMUP_RATIO * total)))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        stopping = EpochEarlyStopping(settings.patience)
        for epoch in range(1, settings.epochs + 1):
            batches = bucketed_batches(lengths, settings.batch_size, generator)
            for step, batch in enumerate(batches, start=1):
                self._step(forward, batch, optimizer)
                scheduler.step()
                if progress is not None:
                    progress((epoch - 1) * per_epoch + step, total, f"epoch {epoch}")
            if validation_loss is None:
                continue
            loss = self.parallel.agree(validation_loss) if self.parallel else validation_loss()
            if stopping.update(epoch, loss, self.model):
                if progress is not None:
                    progress(total, total, f"stopped early after epoch {epoch}")
                return stopping, epoch
        return stopping, settings.epochs

    def _step(
        self, forward: torch.nn.Module, batch: list[int], optimizer: torch.optim.Optimizer
    ) -> None:
        """One optimizer step; ``forward`` is the model, or its DDP wrapper in a data-parallel
        fit, where this rank trains on its shard of ``batch`` with its loss weighted."""
        placement = self.placement
        assert placement is not None
        weight = 1.0
        if self.parallel is not None:
            batch, weight = self.parallel.shard(batch)
        self.model.train()
        inputs, targets = self.encode_batch(batch)
        with placement.autocast():
            logits = forward(**placement.move(inputs)).logits
        loss = self.loss(logits.float(), placement.tensor(targets)) * weight
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), MAX_GRAD_NORM)
            optimizer.step()
            return
        # fp16: scale the loss so small gradients survive, unscale before clipping; a step
        # whose gradients overflowed is skipped and the scale lowered.
        self.scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
        self.scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), MAX_GRAD_NORM)
        self.scaler.step(optimizer)
        self.scaler.update()
