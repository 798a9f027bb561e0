"""Print the floors of the provider SDKs as exact pins (``openai==3.0``), read from
pyproject.toml, for ``make floors``: the oldest versions the project says it runs with."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

SDKS = ("openai", "anthropic", "httpx2")

project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
pins = []
for requirement in project["dependencies"]:
    match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)(,.*)?", requirement)
    if match and match.group(1) in SDKS:
        pins.append(f"{match.group(1)}=={match.group(2)}")
assert len(pins) == len(SDKS), f"a floor is missing in pyproject.toml: {pins}"
print(" ".join(pins))
