"""A distilled student loaded for use from Python: labels and probabilities for texts.

It runs the same fast path as ``pgkd predict`` (dynamic padding, length-sorted batches, the
optional int8 quantization) on a run directory, its ``best/`` folder or a ``pgkd export``
folder.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pgkd.errors import ConfigError

if TYPE_CHECKING:
    from pgkd.serving.inference import Predictor, Probabilities, RecordPredictor

#: Labels per text that :meth:`DistilledStudent.predict_records` ranks, as ``pgkd predict``.
TOP_K = 3


@dataclass(frozen=True, slots=True)
class LabelPrediction:
    """A classifier's answer for one text: its label, the label's probability, and the
    probability of every label."""

    label: str
    confidence: float
    probabilities: Mapping[str, float]


class DistilledStudent:
    """A saved student, ready to label texts. Load one with :func:`pgkd.load_student`, or take
    a run's best with ``result.student``."""

    def __init__(self, path: Path, predictor: Predictor | RecordPredictor) -> None:
        self.path = path
        self._predictor = predictor

    @property
    def is_classifier(self) -> bool:
        return hasattr(self._predictor, "predict_proba")

    @property
    def labels(self) -> tuple[str, ...]:
        """A classifier's labels, in the column order of :meth:`predict_proba`."""
        labels: tuple[str, ...] = tuple(getattr(self._predictor, "labels", ()))
        return labels

    def predict(self, texts: str | Iterable[str]) -> list[LabelPrediction]:
        """The label of each text with its probabilities (one text may be passed alone; the
        answer is a list either way)."""
        texts = _texts(texts)
        probs = self.predict_proba(texts)
        labels = self.labels
        out = []
        for row in probs:
            best = int(np.argmax(row)) if len(row) else 0
            out.append(
                LabelPrediction(
                    label=labels[best],
                    confidence=float(row[best]),
                    probabilities={label: float(p) for label, p in zip(labels, row, strict=True)},
                )
            )
        return out

    def predict_proba(self, texts: str | Iterable[str]) -> Probabilities:
        """Class probabilities, one row per text, columns in :attr:`labels` order."""
        predictor = self._classifier()
        return predictor.predict_proba(_texts(texts))

    def predict_records(self, texts: str | Iterable[str]) -> list[dict[str, Any]]:
        """What ``pgkd predict`` writes for each text: for a classifier ``label``,
        ``confidence`` and ``top_k`` (the three likeliest labels with their probabilities);
        for a plugin task's student (NER, ...) its own records."""
        texts = _texts(texts)
        if not self.is_classifier:
            records: list[dict[str, Any]] = self._predictor.prediction_records(texts)  # type: ignore[union-attr]
            return records
        out = []
        for prediction in self.predict(texts):
            ranked = sorted(prediction.probabilities.items(), key=lambda kv: -kv[1])[:TOP_K]
            out.append(
                {
                    "label": prediction.label,
                    "confidence": prediction.confidence,
                    "top_k": [{"label": k, "prob": v} for k, v in ranked],
                }
            )
        return out

    def predict_file(
        self,
        source: str | Path,
        out: str | Path,
        *,
        text_field: str = "text",
        keep: Sequence[str] = (),
        top_k: int | None = None,
        include_text: bool = True,
    ) -> int:
        """``pgkd predict`` from Python: label every row of ``source`` (JSONL, CSV/TSV or
        Parquet, of any size: read in chunks) into ``out`` (``.jsonl``, ``.csv`` or
        ``.parquet``); ``keep`` copies input fields (an id) to the output. Returns the number
        of rows written."""
        from pgkd.serving.predict import PredictOptions, predict_records

        options = PredictOptions(
            text_field=text_field, top_k=top_k, keep=tuple(keep), include_text=include_text
        )
        return predict_records(self._predictor, Path(source), Path(out), options)

    def _classifier(self) -> Predictor:
        if not self.is_classifier:
            raise ConfigError(
                f"{self.path}: this student's task has no single label per text; use "
                "predict_records(texts) for its records"
            )
        predictor: Predictor = self._predictor  # type: ignore[assignment]
        return predictor

    def __repr__(self) -> str:
        what = f"{len(self.labels)} labels" if self.is_classifier else "records"
        return f"DistilledStudent({self.path}, {what})"


def _texts(texts: str | Iterable[str]) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    out = list(texts)
    bad = next((t for t in out if not isinstance(t, str)), None)
    if bad is not None:
        raise ConfigError(f"texts must be strings; got a {type(bad).__name__} ({bad!r:.40})")
    return out


def load_student(
    path: str | Path,
    *,
    quantize: str | None = None,
    batch_size: int = 64,
    device: str = "auto",
) -> DistilledStudent:
    """The student saved in ``path``: a run directory (its best student), a ``best/`` folder
    or a ``pgkd export`` folder. ``quantize="int8"`` makes a torch student faster on CPU;
    ``device`` is where a torch student runs (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``),
    as ``pgkd predict --quantize`` / ``--device``."""
    from pgkd.serving.inference import load_predictor, resolve_model_dir

    directory = resolve_model_dir(Path(path))
    predictor = load_predictor(directory, quantize=quantize, batch_size=batch_size, device=device)
    return DistilledStudent(directory, predictor)
