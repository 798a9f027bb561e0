"""A teacher plugin for crash tests: answers depend only on the request, and every request it
receives is logged to a file, so a test can count what was paid for across processes."""

from __future__ import annotations

import asyncio
import json
import os
import random
from pathlib import Path
from typing import Any

from pgkd import hookimpl
from pgkd.teachers.base import Teacher, TeacherReply, TeacherRequest


class DeterministicTeacher(Teacher):
    provider = "deterministic"

    async def complete(self, request: TeacherRequest) -> TeacherReply:
        pool = [json.loads(line) for line in Path(self.settings.model).read_text().splitlines()]
        log = os.environ.get("PGKD_TEST_REQUEST_LOG")
        if log:
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"seed": request.seed, "user": hash(request.user)}) + "\n")
        await asyncio.sleep(float(self.settings.options.get("delay", 0.0)))
        rng = random.Random(request.seed)
        picked = rng.sample(pool, request.n_samples)
        return TeacherReply(text=json.dumps(picked), input_tokens=100, output_tokens=50)


class Teachers:
    @hookimpl
    def register_teachers(self, register: Any) -> None:
        register("deterministic", DeterministicTeacher)
