"""Stratified fold assignment for out-of-fold predictions on a student's training history."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def stratified_folds(classes: Sequence[int], folds: int, seed: int) -> npt.NDArray[np.int64]:
    """A fold number in ``[0, folds)`` for each sample, so every fold holds about the same share
    of every class. Each class is shuffled (seeded) and dealt round-robin, the deal carrying on
    from where the previous class stopped, so folds also stay equal in size. A class with fewer
    members than folds simply lands in fewer folds; nothing warns or fails."""
    if folds < 2:
        raise ValueError(f"need at least 2 folds, got {folds}")
    y = np.asarray(classes, dtype=np.int64)
    rng = np.random.default_rng(seed)
    parts = [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]
    order = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    assignment = np.empty(len(y), dtype=np.int64)
    assignment[order] = np.arange(len(order)) % folds
    return assignment
