"""The default audit's report.html in headless Chromium: every image decodes, the console stays clean.

Chromium is driven over the DevTools protocol (``--remote-debugging-port`` and a websocket,
via the ``websocket-client`` package of the ``dev`` extra); no browser is downloaded. Without
a Chromium on PATH the test skips, except under CI (``CI`` set), where it fails: ``.ci/run``
installs Debian's ``chromium``. Set ``ROBUSTNESS_SCREENSHOT_DIR`` to keep the screenshot.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
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
    "--disable-dev-shm-usage",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
    "--remote-allow-origins=*",
)
VIEWPORT = (1280, 900)
#: the browser test runs the full default suites on the first N test images (CI time)
N = 32

pytestmark = pytest.mark.slow


def chromium_path() -> str | None:
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def require(what: str, ok: bool, how: str) -> None:
    """Skip locally, fail under CI, when a browser-test prerequisite is missing."""
    if ok:
        return
    message = f"{what} is not available, so report.html cannot be checked in a browser; {how}"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set: {message}", pytrace=False)
    pytest.skip(message)


class DevTools:
    """A minimal Chrome DevTools Protocol session over one page's websocket."""

    def __init__(self, url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(url, timeout=120, suppress_origin=True, enable_multithread=False)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def close(self) -> None:
        self.ws.close()

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"DevTools {method} failed: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, event: str, *, after: int = 0, timeout: float = 120.0) -> dict[str, Any]:
        """The first ``event`` among the events from index ``after`` on, waiting for it if need be."""
        deadline = time.monotonic() + timeout
        for seen in self.events[after:]:
            if seen["method"] == event:
                return seen
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv())
            if "method" in message:
                self.events.append(message)
                if message["method"] == event:
                    return message
        raise TimeoutError(f"no {event} within {timeout:.0f} s")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and browser log errors (failed loads, CSP violations)."""
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(
                    "console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
                )
            elif e["method"] == "Runtime.exceptionThrown":
                out.append("exception: " + str(p.get("exceptionDetails", {}).get("text", p)))
            elif e["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                entry = p["entry"]
                out.append(f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}".strip())
        return out


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium executable; checked before the (slow) audit runs."""
    exe = chromium_path()
    require(
        "Chromium",
        exe is not None,
        "install Debian's chromium (apt-get install chromium) or set CHROMIUM=/path/to/chrome.",
    )
    try:
        import websocket  # noqa: F401
    except ImportError:
        require("websocket-client", False, "pip install -e '.[dev]' (it drives Chromium's DevTools protocol).")
    assert exe is not None
    return exe


@pytest.fixture
def browser(chromium: str, tmp_path: Path) -> Iterator[DevTools]:
    exe = chromium
    profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=tmp_path))
    log = open(tmp_path / "chromium.log", "wb")
    proc = subprocess.Popen(
        [
            exe,
            *FLAGS,
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
            "about:blank",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    session = None
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 90
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                tail = (tmp_path / "chromium.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"Chromium ({exe}) did not open its DevTools port (exit {proc.poll()}):\n{tail}")
            time.sleep(0.1)
        port = int(port_file.read_text().splitlines()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as response:
            targets = json.load(response)
        page = next(t for t in targets if t.get("type") == "page")
        session = DevTools(page["webSocketDebuggerUrl"])
        yield session
    finally:
        if session is not None:
            session.close()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def open_report(tools: DevTools, path: Path) -> dict[str, Any]:
    """Load ``path`` and return the page's image states, document height and a full-page screenshot."""
    tools.call("Runtime.enable")
    tools.call("Log.enable")
    tools.call("Page.enable")
    tools.call(
        "Emulation.setDeviceMetricsOverride", width=VIEWPORT[0], height=VIEWPORT[1], deviceScaleFactor=1, mobile=False
    )
    before = len(tools.events)
    tools.call("Page.navigate", url=path.resolve().as_uri())
    tools.wait_for("Page.loadEventFired", after=before)
    probe = """Promise.all(Array.from(document.images).map(img => img.decode().then(() => true, () => false)))
      .then(decoded => JSON.stringify({
        images: Array.from(document.images).map((img, i) => ({alt: img.alt, complete: img.complete,
          width: img.naturalWidth, height: img.naturalHeight, decoded: decoded[i], data: img.src.startsWith('data:image/png')})),
        sections: Array.from(document.querySelectorAll('section[id]')).map(s => s.id),
        height: document.documentElement.scrollHeight}))"""
    state = tools.call("Runtime.evaluate", expression=probe, awaitPromise=True, returnByValue=True)
    page = json.loads(state["result"]["value"])
    shot = tools.call(
        "Page.captureScreenshot",
        format="png",
        captureBeyondViewport=True,
        clip={"x": 0, "y": 0, "width": VIEWPORT[0], "height": page["height"], "scale": 1},
    )
    page["screenshot"] = base64.b64decode(shot["data"])
    return page


@pytest.fixture(scope="module")
def default_audit(tmp_path_factory: pytest.TempPathFactory, digits_weights: str) -> Any:
    """The default audit (digits, small CNN, full corruption and attack suites) on the first N test images."""
    from robustness.api import run_audit
    from robustness.run.config import AuditConfig

    return run_audit(AuditConfig(n=N, out=str(tmp_path_factory.mktemp("browser") / "runs")))


def test_default_report_renders_in_chromium(
    chromium: str, default_audit: Any, browser: DevTools, tmp_path: Path
) -> None:
    html_path = default_audit.out_dir / "report.html"
    assert html_path.is_file(), f"the default audit wrote no report.html in {default_audit.out_dir}"
    page = open_report(browser, html_path)
    screenshot = tmp_path / "report.png"
    screenshot.write_bytes(page["screenshot"])
    if os.environ.get("ROBUSTNESS_SCREENSHOT_DIR"):
        keep = Path(os.environ["ROBUSTNESS_SCREENSHOT_DIR"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, keep / "report.png")

    assert browser.errors() == [], "the console shows errors"
    broken = [img for img in page["images"] if not (img["complete"] and img["decoded"] and img["width"] > 0)]
    assert not broken, f"{len(broken)} of {len(page['images'])} images did not decode: {broken[:5]}"
    assert all(img["data"] for img in page["images"]), "every image is an embedded PNG"
    assert page["sections"] == [
        "summary",
        "corruptions",
        "attacks",
        "fragile",
        "explain",
        "sanity",
        "comparisons",
        "reproducibility",
    ]
    shot = Image.open(BytesIO(page["screenshot"]))
    assert shot.size[0] == VIEWPORT[0] and shot.size[1] > 3000
    assert len(np.unique(np.asarray(shot.convert("L").resize((64, 256))))) > 20, "the screenshot is blank"


def test_default_report_has_every_plot_and_picture(default_audit: Any) -> None:
    from robustness import corruptions

    html = (default_audit.out_dir / "report.html").read_text()
    results = default_audit.results
    for alt in (
        "accuracy vs severity per corruption",
        "corruption x severity heatmap",
        "robust accuracy vs epsilon",
        "minimal perturbation distribution",
        "comparison bars with 95% intervals",
        "effective robustness",
    ):
        assert f'alt="{alt}"' in html, f"plot missing: {alt}"
    # one test image under every corruption at severities 1..5, plus the clean image
    n_corruptions = len(corruptions.select("all"))
    assert html.count('width="64" height="64"') == 5 * n_corruptions
    attacks_run = results.loc[
        (results["kind"] == "attack") & (results["perturbation"] != "worst_case"), "perturbation"
    ].unique()
    assert html.count('class="adv-block"') == len(attacks_run)
    assert 'class="fragile"' in html
    # filled with this run's numbers
    clean = results.loc[results["kind"] == "clean", "accuracy"].item()
    assert f"{100 * clean:.1f}%" in html
    assert default_audit.run_id in html
    for name in attacks_run:
        assert re.search(rf"<td class=\"left\">{name}</td>", html), f"attack {name} missing from the tables"


def test_what_broke_section_renders_in_chromium(chromium: str, default_audit: Any, browser: DevTools) -> None:
    """The per-class, confidence, selective-prediction and attribution parts: drawn, decoded, filled with numbers."""
    page = open_report(browser, default_audit.out_dir / "report.html")
    probe = """JSON.stringify((() => {
        const s = document.querySelector('section#explain');
        const imgs = Array.from(s.querySelectorAll('img'));
        return {heads: Array.from(s.querySelectorAll('h3')).map(h => h.textContent),
                alts: imgs.map(i => i.alt), decoded: imgs.every(i => i.complete && i.naturalWidth > 0),
                rows: s.querySelectorAll('.attribution-row').length,
                tiles: Array.from(s.querySelectorAll('.attribution-row img')).map(i => i.getBoundingClientRect().width),
                confusions: Array.from(s.querySelectorAll('ul.confusions li')).map(li => li.textContent),
                height: s.getBoundingClientRect().height};
    })())"""
    found = json.loads(browser.call("Runtime.evaluate", expression=probe, returnByValue=True)["result"]["value"])
    assert browser.errors() == []
    assert "explain" in page["sections"]
    assert found["heads"][:1] == ["Per class"]
    for head in ("Confidence under shift", "Selective prediction", "Where the model looked"):
        assert head in found["heads"], f"missing part: {head}"
    assert {"accuracy drop per class and family", "reliability diagram"} <= set(found["alts"])
    assert found["decoded"], "an image of the section did not decode"
    # clean, the worst corruption of each family, one adversarial per norm: three tiles each, laid out visibly
    from robustness import corruptions

    families = {corruptions.get(name).family for name in corruptions.select("all")}
    assert found["rows"] == 1 + len(families) + 2
    assert len(found["tiles"]) == 3 * found["rows"] and min(found["tiles"]) > 40
    assert found["confusions"] and all(re.search(r" -> .* under .*: \d+ samples?$", c) for c in found["confusions"])
    html = (default_audit.out_dir / "report.html").read_text()
    assert "15 equal-width confidence bins" in html and "coverage" in html
