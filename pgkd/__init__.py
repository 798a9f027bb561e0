"""pgkd: Performance-Guided Knowledge Distillation of an LLM into a small, fast classifier.

This module is pgkd's public API: the names in ``__all__`` are what a user and a plugin author
(``docs/python.md``, ``docs/plugins.md``) may rely on, together with :mod:`pgkd.testing`, the
helpers for a plugin's tests. The run API (``distill``, ``adistill``, ``resume``,
``load_student``, ``compare``, ``export``, ...) lives in :mod:`pgkd.api`. Every other module
(``pgkd.loop``, ``pgkd.fill``, ``pgkd.students.frozen``, ...) is internal: it may change or move
in any release without notice.

``import pgkd`` stays cheap: the hook markers, the data types, the teacher interface and the
errors are imported with it; everything else (students, tasks, the config, whatever brings
numpy, pydantic or torch) is imported on first use of its name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgkd.errors import (
    BudgetExceeded,
    ConfigError,
    DataError,
    LeakageError,
    PgkdError,
    PluginError,
    RunDirError,
)
from pgkd.hookspecs import hookimpl, hookspec
from pgkd.lazy_names import lazy_names
from pgkd.teachers.base import (
    Teacher,
    TeacherError,
    TeacherReply,
    TeacherRequest,
    TeacherSettings,
    TransientTeacherError,
)
from pgkd.types import (
    CallPlan,
    Candidate,
    ClassScore,
    Evaluation,
    Example,
    HeldOutCheck,
    JsonValue,
    NoHeldOut,
    Prediction,
    Prompt,
    PromptContents,
    Rejection,
    Sample,
    StepContext,
    StepRecord,
    StepVerdict,
    Target,
)

if TYPE_CHECKING:
    from pgkd.api import (
        DistilledStudent,
        LabelPrediction,
        RunResult,
        adistill,
        aresume,
        compare,
        distill,
        dry_run,
        export,
        load_run,
        load_student,
        make_config,
        resume,
    )
    from pgkd.config import Config, config_from_mapping, load_config
    from pgkd.fill.pool import Generation, TeacherPool
    from pgkd.plugins import TeacherFactory
    from pgkd.report import write_report
    from pgkd.serving.inference import RecordPredictor
    from pgkd.students.backbone import (
        length_sorted_batches,
        load_tokenizer,
        pad_batch,
        portable_settings,
        quiet_transformers,
        resolve_backbone,
    )
    from pgkd.students.base import (
        ClassifierStudent,
        FitReport,
        ProgressCallback,
        Student,
        StudentClass,
        StudentSettings,
    )
    from pgkd.students.fine_tuned import FineTunedStudent
    from pgkd.students.loading import MARKER as STUDENT_MARKER
    from pgkd.students.loading import read_marker as read_student_marker
    from pgkd.students.loading import settings_from_dict as student_settings_from_dict
    from pgkd.students.loading import write_marker as write_student_marker
    from pgkd.students.registry import LazyStudentClass
    from pgkd.students.training import ModelBatch
    from pgkd.tasks.base import OutOfFoldTask, Task, TaskFactory
    from pgkd.tasks.classification import ClassificationTask

__version__ = "0.1.0"

#: Public names imported on first use: name -> (module, attribute in that module).
_LAZY: dict[str, tuple[str, str]] = {
    "ClassificationTask": ("pgkd.tasks.classification", "ClassificationTask"),
    "ClassifierStudent": ("pgkd.students.base", "ClassifierStudent"),
    "Config": ("pgkd.config", "Config"),
    "DistilledStudent": ("pgkd.api", "DistilledStudent"),
    "FineTunedStudent": ("pgkd.students.fine_tuned", "FineTunedStudent"),
    "FitReport": ("pgkd.students.base", "FitReport"),
    "Generation": ("pgkd.fill.pool", "Generation"),
    "LabelPrediction": ("pgkd.api", "LabelPrediction"),
    "LazyStudentClass": ("pgkd.students.registry", "LazyStudentClass"),
    "ModelBatch": ("pgkd.students.training", "ModelBatch"),
    "OutOfFoldTask": ("pgkd.tasks.base", "OutOfFoldTask"),
    "ProgressCallback": ("pgkd.students.base", "ProgressCallback"),
    "RecordPredictor": ("pgkd.serving.inference", "RecordPredictor"),
    "RunResult": ("pgkd.api", "RunResult"),
    "STUDENT_MARKER": ("pgkd.students.loading", "MARKER"),
    "Student": ("pgkd.students.base", "Student"),
    "StudentClass": ("pgkd.students.base", "StudentClass"),
    "StudentSettings": ("pgkd.students.base", "StudentSettings"),
    "Task": ("pgkd.tasks.base", "Task"),
    "TaskFactory": ("pgkd.tasks.base", "TaskFactory"),
    "TeacherFactory": ("pgkd.plugins", "TeacherFactory"),
    "TeacherPool": ("pgkd.fill.pool", "TeacherPool"),
    "adistill": ("pgkd.api", "adistill"),
    "aresume": ("pgkd.api", "aresume"),
    "compare": ("pgkd.api", "compare"),
    "config_from_mapping": ("pgkd.config", "config_from_mapping"),
    "distill": ("pgkd.api", "distill"),
    "dry_run": ("pgkd.api", "dry_run"),
    "export": ("pgkd.api", "export"),
    "length_sorted_batches": ("pgkd.students.backbone", "length_sorted_batches"),
    "load_config": ("pgkd.config", "load_config"),
    "load_run": ("pgkd.api", "load_run"),
    "load_student": ("pgkd.api", "load_student"),
    "load_tokenizer": ("pgkd.students.backbone", "load_tokenizer"),
    "make_config": ("pgkd.api", "make_config"),
    "pad_batch": ("pgkd.students.backbone", "pad_batch"),
    "portable_settings": ("pgkd.students.backbone", "portable_settings"),
    "quiet_transformers": ("pgkd.students.backbone", "quiet_transformers"),
    "read_student_marker": ("pgkd.students.loading", "read_marker"),
    "resolve_backbone": ("pgkd.students.backbone", "resolve_backbone"),
    "resume": ("pgkd.api", "resume"),
    "student_settings_from_dict": ("pgkd.students.loading", "settings_from_dict"),
    "write_report": ("pgkd.report", "write_report"),
    "write_student_marker": ("pgkd.students.loading", "write_marker"),
}


__getattr__, __dir__ = lazy_names("pgkd", _LAZY, globals())


__all__ = [
    "STUDENT_MARKER",
    "BudgetExceeded",
    "CallPlan",
    "Candidate",
    "ClassScore",
    "ClassificationTask",
    "ClassifierStudent",
    "Config",
    "ConfigError",
    "DataError",
    "DistilledStudent",
    "Evaluation",
    "Example",
    "FineTunedStudent",
    "FitReport",
    "Generation",
    "HeldOutCheck",
    "JsonValue",
    "LabelPrediction",
    "LazyStudentClass",
    "LeakageError",
    "ModelBatch",
    "NoHeldOut",
    "OutOfFoldTask",
    "PgkdError",
    "PluginError",
    "Prediction",
    "ProgressCallback",
    "Prompt",
    "PromptContents",
    "RecordPredictor",
    "Rejection",
    "RunDirError",
    "RunResult",
    "Sample",
    "StepContext",
    "StepRecord",
    "StepVerdict",
    "Student",
    "StudentClass",
    "StudentSettings",
    "Target",
    "Task",
    "TaskFactory",
    "Teacher",
    "TeacherError",
    "TeacherFactory",
    "TeacherPool",
    "TeacherReply",
    "TeacherRequest",
    "TeacherSettings",
    "TransientTeacherError",
    "__version__",
    "adistill",
    "aresume",
    "compare",
    "config_from_mapping",
    "distill",
    "dry_run",
    "export",
    "hookimpl",
    "hookspec",
    "length_sorted_batches",
    "load_config",
    "load_run",
    "load_student",
    "load_tokenizer",
    "make_config",
    "pad_batch",
    "portable_settings",
    "quiet_transformers",
    "read_student_marker",
    "resolve_backbone",
    "resume",
    "student_settings_from_dict",
    "write_report",
    "write_student_marker",
]
