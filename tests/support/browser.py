"""Headless Chromium for the HTML report's tests: load a page with a test script, read back
what the script found (``--dump-dom``), or take a screenshot.

The page is copied with two scripts added: one first in ``<head>`` that records every
error, console error and content-security-policy violation, and the test's own, last in
``<body>``, which drives the page and writes its findings as JSON into ``#selftest``.
Without Chromium the tests are skipped, and :data:`SKIPPED` makes the run's summary say
so loudly (``tests/conftest.py``); CI (``.ci/run``) installs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

#: Tests skipped because Chromium is missing (reported in the run's summary).
SKIPPED: list[str] = []
_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_RECORDER = """<script>
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push("error: " + e.message); });
window.addEventListener("securitypolicyviolation", function (e) { window.__errors.push("csp: " + e.blockedURI); });
(function () { const original = console.error; console.error = function () {
  window.__errors.push("console: " + Array.from(arguments).join(" ")); original.apply(console, arguments); }; })();
</script>
"""
_RESULT = re.compile(r'<pre id="selftest">(.*?)</pre>', re.S)


def chromium() -> str:
    """The Chromium binary, or skip the test (recorded for the run's summary)."""
    found = os.environ.get("PS2MOODLE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        test = os.environ.get("PYTEST_CURRENT_TEST", "a browser test").split(" ")[0]
        SKIPPED.append(test)
        pytest.skip("Chromium is not installed (apt-get install chromium): the browser test did not run")
    return found


def _run(args: list[str], timeout: float = 120) -> str:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [chromium(), *_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout


def run_page(page: Path, script: str) -> dict[str, Any]:
    """Load ``page`` with ``script`` appended; the JSON the script put in ``window.__out``,
    with ``errors`` (what went wrong while loading) added."""
    html = page.read_text(encoding="utf-8")
    head, _, rest = html.partition("<head>")
    body, _, tail = rest.rpartition("</body>")
    finish = (
        "<script>\n(function () { window.__out = window.__out || {}; try {\n"
        + script
        + "\n} catch (e) { window.__errors.push('test: ' + e); }\n"
        "const pre = document.createElement('pre'); pre.id = 'selftest';\n"
        "window.__out.errors = window.__errors; pre.textContent = JSON.stringify(window.__out);\n"
        "document.body.appendChild(pre); })();\n</script>\n"
    )
    probe = page.with_name(page.stem + ".probe.html")
    probe.write_text(head + "<head>\n" + _RECORDER + body + finish + "</body>" + tail, encoding="utf-8")
    dom = _run(["--dump-dom", probe.as_uri()])
    found = _RESULT.search(dom)
    assert found, "the page did not finish its test script:\n" + dom[-2000:]
    result: dict[str, Any] = json.loads(_unescape(found.group(1)))
    return result


def screenshot(page: Path, png: Path, *, width: int = 1200, height: int = 1400) -> None:
    """A PNG of ``page`` as a reviewer first sees it."""
    _run([f"--screenshot={png}", f"--window-size={width},{height}", "--hide-scrollbars", page.as_uri()])
    assert png.exists() and png.stat().st_size > 0, "chromium wrote no screenshot"


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
