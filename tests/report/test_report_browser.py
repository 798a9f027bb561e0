"""The report in a real headless browser (Debian's chromium): it loads with no console errors,
the search works, sample text stays text, and a screenshot shows the page."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pgkd.report import write_report
from tests.report.fake_run import EVIL, write_run

CHROMIUM = Path(os.environ.get("PGKD_CHROMIUM", "/usr/bin/chromium"))
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"needs a headless browser at {CHROMIUM}: apt-get install -y chromium",
)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
)

# Runs before the page's Content-Security-Policy is parsed, so the policy does not cover it.
# It records every error, console message, CSP violation and alert() into the DOM, then
# drives the sample search after load.
PROBE = """
(function () {
  var seen = [];
  function note(kind, message) {
    seen.push(kind + ": " + message);
    document.documentElement.setAttribute("data-probe-errors", JSON.stringify(seen));
  }
  document.documentElement.setAttribute("data-probe-errors", "[]");
  window.addEventListener("error", function (e) { note("error", e.message || "resource"); }, true);
  window.addEventListener("unhandledrejection", function (e) {
    note("rejection", String(e.reason));
  });
  document.addEventListener("securitypolicyviolation", function (e) {
    note("csp", e.violatedDirective + " " + e.blockedURI);
  });
  ["error", "warn", "log"].forEach(function (level) {
    console[level] = function () { note("console." + level, [].join.call(arguments, " ")); };
  });
  window.alert = function (m) { note("alert", String(m)); };
  window.addEventListener("load", function () {
    setTimeout(function () {
      var box = document.getElementById("sample-search");
      var count = document.getElementById("sample-count");
      var result = {initial: count.textContent};
      box.value = "alert(1)";
      box.dispatchEvent(new Event("input"));
      result.search = count.textContent;
      document.getElementById("sample-status").value = "";
      document.getElementById("sample-status").dispatchEvent(new Event("input"));
      box.value = "";
      box.dispatchEvent(new Event("input"));
      result.all = count.textContent;
      var header = document.querySelector("#class-table th:nth-child(5)");
      header.click();
      result.firstByChange = document.querySelector("#class-table tbody tr").cells[4].textContent;
      document.documentElement.setAttribute("data-probe-result", JSON.stringify(result));
    }, 0);
  });
})();
"""


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    return subprocess.run(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if re.search(r":CONSOLE[:(]", line)]


class Probe(HTMLParser):
    """Reads back what the probe wrote, the scripts, and the sample table's text cells."""

    def __init__(self) -> None:
        super().__init__()
        self.attrs: dict[str, str] = {}
        self.scripts = 0
        self.tags_in_text: list[str] = []
        self.texts: list[str] = []
        self._in_text = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.attrs = values
        if tag == "script":
            self.scripts += 1
        if self._in_text:
            self.tags_in_text.append(tag)
        if tag == "td" and "text" in values.get("class", "").split():
            self._in_text = True
            self.texts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._in_text = False

    def handle_data(self, data: str) -> None:
        if self._in_text:
            self.texts[-1] += data


@pytest.fixture(scope="module")
def big_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = write_run(tmp_path_factory.mktemp("big") / "run", classes=335, steps=4)
    write_report(run)
    return run


def test_page_loads_without_errors_and_keeps_text_as_text(big_run: Path, tmp_path: Path) -> None:
    html = (big_run / "report.html").read_text(encoding="utf-8")
    probed = tmp_path / "probed.html"
    probed.write_text(html.replace("<head>", f"<head><script>{PROBE}</script>", 1), "utf-8")

    done = chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", probed.as_uri())

    assert done.returncode == 0, done.stderr[-2000:]
    probe = Probe()
    probe.feed(done.stdout)
    assert json.loads(probe.attrs["data-probe-errors"]) == []
    assert console_lines(done.stderr) == []
    result = json.loads(probe.attrs["data-probe-result"])
    accepted, total = (int(n) for n in re.findall(r"\d+", result["initial"]))
    assert 0 < accepted < total
    assert result["search"] == f"1 of {total} samples"
    assert result["all"] == f"{total} of {total} samples"
    assert result["firstByChange"].startswith("+")  # sorted by change, biggest gain first
    assert probe.scripts == 2  # the probe and the report's own script; no injected one
    assert EVIL in probe.texts
    assert probe.tags_in_text == []


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def png_pixels(data: bytes) -> bytes:
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            chunks.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    return zlib.decompress(b"".join(chunks))


def test_screenshot_shows_the_charts(run_dir: Path, tmp_path: Path) -> None:
    report = write_report(run_dir)
    shot = tmp_path / "report.png"

    done = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", report.as_uri())

    assert done.returncode == 0, done.stderr[-2000:]
    assert console_lines(done.stderr) == []
    data = shot.read_bytes()
    assert png_size(data) == (1280, 2000)
    assert len(data) > 50_000  # a blank or error page compresses to a few kB
    raw = png_pixels(data)
    assert len(set(raw)) > 100  # many colours: text, charts, shaded cells
