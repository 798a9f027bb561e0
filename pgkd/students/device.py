"""Where a student computes, and in which precision: the one module that knows about CUDA and MPS.

``[student] device`` is ``"auto"`` (the best device torch can see: a CUDA GPU, else Apple's MPS,
else the CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``. ``[student] precision`` is
``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"``; ``"auto"`` means:

- CPU: fp32, or bf16 autocast with ``[student.options] bf16 = true`` (what pgkd always did);
- CUDA: bf16 autocast where the GPU supports it, else fp16 autocast with a gradient scaler;
- MPS: fp32 (``"fp16"`` or ``"bf16"`` turn autocast on).

Students, the fine-tuning loop and the predictors ask this module for a :class:`Placement` and
use only its methods (``move``, ``autocast``, ``grad_scaler``): nothing else in pgkd names a
device. On the CPU every method is a no-op or what the code did before devices existed, so CPU
numbers do not change.

torch is imported inside the functions: the config checks the spelling of a device without it.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgkd.errors import ConfigError

if TYPE_CHECKING:
    import torch

    from pgkd.students.base import StudentSettings

AUTO = "auto"
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?|mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: Texts per forward pass when the frozen encoder embeds on an accelerator (unless
#: ``[student.options] embed_batch_size`` says otherwise): a GPU idles on CPU-sized batches.
ACCELERATOR_EMBED_BATCH = 512


def check_device_name(name: str, setting: str = "[student] device") -> str:
    """``name`` if it is spelt like a device pgkd knows; a one-line :class:`ConfigError` else."""
    if not DEVICE_PATTERN.fullmatch(name):
        raise ConfigError(
            f'{setting} = "{name}": not a device; use "auto", "cpu", "cuda", "cuda:N" or "mps"'
        )
    return name


def names_cuda(name: str) -> bool:
    """True for ``cuda`` and ``cuda:N``: a Ray worker then reserves one GPU."""
    return name == "cuda" or name.startswith("cuda:")


def resolve_device(name: str = AUTO, setting: str = "[student] device") -> torch.device:
    """The torch device ``name`` stands for; asking for an accelerator torch cannot see is a
    one-line :class:`ConfigError` naming ``setting`` and the fix."""
    import torch

    check_device_name(name, setting)
    if name == AUTO:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = device.index or 0
        if index >= count:
            seen = f"{count} CUDA device(s)" if count else "no CUDA device"
            raise ConfigError(
                f'{setting} = "{name}": torch {torch.__version__} sees {seen}; set it to "auto" '
                'or "cpu", or install a CUDA build of torch on a machine with that GPU'
            )
    if device.type == "mps" and not _mps_available():
        raise ConfigError(
            f'{setting} = "mps": torch {torch.__version__} sees no Apple MPS device; set it to '
            '"auto" or "cpu"'
        )
    return device


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


@dataclass(frozen=True)
class Precision:
    """Autocast dtype (None: plain fp32) and whether gradients need a scaler (fp16 on CUDA)."""

    autocast: str | None = None
    scale_gradients: bool = False


def choose_precision(
    device_type: str, precision: str, *, bf16_option: bool, bf16_supported: bool
) -> Precision:
    """The precision rules of the module docstring, on plain values so they test anywhere."""
    if precision not in PRECISIONS:
        raise ConfigError(
            f'[student] precision = "{precision}": use one of {", ".join(PRECISIONS)}'
        )
    if precision == AUTO:
        if device_type == "cuda":
            precision = "bf16" if bf16_supported else "fp16"
        else:
            precision = "bf16" if bf16_option else "fp32"
    if precision == "fp32":
        return Precision()
    if precision == "bf16":
        if device_type == "cuda" and not bf16_supported:
            raise ConfigError(
                '[student] precision = "bf16": this GPU has no bf16; use "fp16" or "auto"'
            )
        return Precision("bf16")
    if device_type == "cpu":
        raise ConfigError(
            '[student] precision = "fp16": fp16 autocast is for GPUs; on the CPU use "bf16" '
            'or "fp32"'
        )
    return Precision("fp16", scale_gradients=device_type == "cuda")


@dataclass(frozen=True)
class Placement:
    """A device and a precision; everything a student does with tensors goes through here."""

    device: torch.device
    precision: Precision = Precision()

    @property
    def on_cpu(self) -> bool:
        return self.device.type == "cpu"

    def move(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A batch's tensors on this device (the same objects on the CPU)."""
        if self.on_cpu:
            return tensors
        return {name: t.to(self.device, non_blocking=True) for name, t in tensors.items()}

    def tensor(self, value: torch.Tensor) -> torch.Tensor:
        return value if self.on_cpu else value.to(self.device, non_blocking=True)

    def place(self, model: Any) -> Any:
        """``model`` moved to this device (a no-op when it is already there)."""
        return model.to(self.device)

    def autocast(self) -> AbstractContextManager[Any]:
        import torch

        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision.autocast or "")
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """A gradient scaler for fp16 training, None otherwise."""
        if not self.precision.scale_gradients:
            return None
        import torch

        return torch.amp.GradScaler(self.device.type)

    def embed_batch_size(self, settings: StudentSettings) -> int:
        """Texts per forward pass of the frozen encoder: ``[student] batch_size`` on the CPU
        (as before), :data:`ACCELERATOR_EMBED_BATCH` on an accelerator, unless
        ``[student.options] embed_batch_size`` is set."""
        given = settings.options.get("embed_batch_size")
        if given is not None:
            if isinstance(given, bool) or not isinstance(given, int) or given < 1:
                raise ConfigError(
                    f"[student.options] embed_batch_size = {given!r}: must be an integer >= 1"
                )
            return given
        return settings.batch_size if self.on_cpu else ACCELERATOR_EMBED_BATCH

    def describe(self) -> str:
        return f"{self.device} {self.precision.autocast or 'fp32'}"


def placement(
    device: str,
    precision: str = AUTO,
    *,
    bf16_option: bool = False,
    setting: str = "[student] device",
) -> Placement:
    """The placement for a device name and a precision name; errors name ``setting`` (the
    config key, or the CLI's ``--device``)."""
    import torch

    resolved = resolve_device(device, setting)
    bf16_supported = resolved.type == "cuda" and torch.cuda.is_bf16_supported()
    chosen = choose_precision(
        resolved.type, precision, bf16_option=bf16_option, bf16_supported=bf16_supported
    )
    return Placement(resolved, chosen)


def student_placement(settings: StudentSettings) -> Placement:
    """Where a student with these ``[student]`` settings computes."""
    return placement(
        settings.device,
        settings.precision,
        bf16_option=bool(settings.options.get("bf16", False)),
    )
