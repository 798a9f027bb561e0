"""The frozen student's folder in the layout SetFit and sentence-transformers read.

``setfit.SetFitModel.from_pretrained(best)`` (or ``SentenceTransformer(best)`` for the embeddings
alone) loads a saved frozen student without pgkd: the folder holds the encoder's own files
(``config.json``, the weights, the tokenizer), ``modules.json`` naming the pipeline pgkd runs
(the transformer, mean pooling, L2 normalisation), ``sentence_bert_config.json`` with the token
limit pgkd embedded with, ``config_setfit.json`` with the labels, and ``model_head.pkl``: the head
as scikit-learn's ``LogisticRegression``, pickled, because that is how SetFit stores its head.

Nothing here needs setfit or sentence-transformers installed; they are small JSON files, a copy
of files and a pickle *written* with the standard library. pgkd never reads the pickle back: it
loads the same head from ``head.safetensors`` (unpickling runs code; safetensors cannot).
"""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

#: The head in SetFit's own format (a pickle); pgkd writes it and never reads it.
SETFIT_HEAD_FILE = "model_head.pkl"
SETFIT_CONFIG_FILE = "config_setfit.json"
#: The encoder files copied next to the head: Hugging Face weights, config and tokenizer.
BODY_PATTERNS = (
    "config.json",
    "*.safetensors",
    "*.safetensors.index.json",
    "pytorch_model*.bin",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "*.model",
)
MODULES = [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {
        "idx": 2,
        "name": "2",
        "path": "2_Normalize",
        "type": "sentence_transformers.models.Normalize",
    },
]


def has_body(directory: Path) -> bool:
    """Whether ``directory`` carries its own encoder (a folder saved by this version or later)."""
    return (directory / "config.json").is_file() and (directory / "modules.json").is_file()


def write_setfit_layout(
    directory: Path,
    backbone: Path,
    labels: Sequence[str],
    weight: npt.NDArray[np.float32],
    bias: npt.NDArray[np.float32],
    max_seq_length: int,
) -> None:
    """Copy the encoder in ``backbone`` into ``directory`` and write the sentence-transformers
    modules and the SetFit head and config for a linear head ``weight``/``bias`` over ``labels``."""
    directory = Path(directory)
    copy_body(backbone, directory)
    _write_json(directory / "modules.json", MODULES)
    _write_json(
        directory / "sentence_bert_config.json",
        {"max_seq_length": int(max_seq_length), "do_lower_case": False},
    )
    _write_json(
        directory / "config_sentence_transformers.json",
        {"prompts": {}, "default_prompt_name": None, "similarity_fn_name": "cosine"},
    )
    _write_json(
        directory / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": int(weight.shape[1]),
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        },
    )
    (directory / "2_Normalize").mkdir(exist_ok=True)
    # The body already normalises (module 2), so SetFit must not normalise again.
    _write_json(
        directory / SETFIT_CONFIG_FILE, {"labels": list(labels), "normalize_embeddings": False}
    )
    with (directory / SETFIT_HEAD_FILE).open("wb") as handle:
        pickle.dump(logistic_regression(weight, bias), handle, protocol=pickle.HIGHEST_PROTOCOL)


def copy_body(backbone: Path, directory: Path) -> None:
    """The encoder's weights, config and tokenizer files, as they are (byte for byte)."""
    backbone, directory = Path(backbone), Path(directory)
    if backbone.resolve() == directory.resolve():
        return
    directory.mkdir(parents=True, exist_ok=True)
    copied: set[str] = set()
    for pattern in BODY_PATTERNS:
        for source in sorted(backbone.glob(pattern)):
            if source.is_file() and source.name not in copied:
                shutil.copyfile(source, directory / source.name)
                copied.add(source.name)


def logistic_regression(weight: npt.NDArray[np.float32], bias: npt.NDArray[np.float32]) -> Any:
    """scikit-learn's ``LogisticRegression`` whose ``predict_proba`` is ``softmax(x @ W.T + b)``
    with classes ``0..K-1`` (SetFit maps them to ``labels``). With two classes scikit-learn keeps
    one row and a sigmoid: ``sigmoid((w1 - w0) x + b1 - b0)`` is the same softmax."""
    from sklearn.linear_model import LogisticRegression

    coef = weight.astype(np.float64)
    intercept = bias.astype(np.float64)
    if len(coef) == 2:
        coef, intercept = (coef[1] - coef[0])[None, :], intercept[1:] - intercept[:1]
    head = LogisticRegression()
    head.classes_ = np.arange(len(weight))
    head.coef_ = coef
    head.intercept_ = intercept
    head.n_features_in_ = int(weight.shape[1])
    head.n_iter_ = np.zeros(1, dtype=np.int32)
    return head


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
