"""The best student as an MLflow pyfunc model (MLflow's "models from code": this file is stored
with the model and run by ``mlflow.pyfunc.load_model``, so no pickle is involved).

``predict(df)`` takes a DataFrame whose ``text`` column (else its first column) holds the texts,
and returns one row per text: for a classifier ``label`` and ``confidence`` and one
``p_<label>`` column per label; for another task's student (NER) its prediction records, one
column per field. The student itself is loaded by pgkd's own predictor from the model's
``student`` artifact, so loading the model needs ``pgkd`` installed.
"""

from __future__ import annotations

import warnings
from typing import Any

import mlflow
import numpy as np
import pandas as pd

with warnings.catch_warnings():
    # MLflow 3 warns about type hints of its own modules while mlflow.pyfunc is imported.
    warnings.simplefilter("ignore", UserWarning)
    import mlflow.pyfunc

TEXT_COLUMN = "text"


class PgkdStudentModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """Wraps pgkd's predictor of a saved student (``best/``)."""

    def load_context(self, context: Any) -> None:
        from pgkd.testing import load_predictor

        self.predictor = load_predictor(context.artifacts["student"])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        column = TEXT_COLUMN if TEXT_COLUMN in frame.columns else frame.columns[0]
        texts = [str(text) for text in frame[column]]
        records = getattr(self.predictor, "prediction_records", None)
        if records is not None:
            return pd.DataFrame(records(texts))
        probabilities = np.asarray(self.predictor.predict_proba(texts))
        labels = list(self.predictor.labels)
        best = probabilities.argmax(axis=1)
        out = pd.DataFrame(
            {
                "label": [labels[int(i)] for i in best],
                "confidence": probabilities[np.arange(len(texts)), best],
            }
        )
        for index, label in enumerate(labels):
            out[f"p_{label}"] = probabilities[:, index]
        return out


mlflow.models.set_model(PgkdStudentModel())
