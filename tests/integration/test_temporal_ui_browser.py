"""The Temporal UI as an operator sees it: headless Chromium opens a dispute's page on the real
dev server's UI and the rendered page shows the dispute's summary, its current status and the
name of the timer it waits on.

Chromium is Debian's `chromium` package (scripts/test.sh installs it where it can). Without it
the test is skipped with the reason, visibly; CI sets DP_REQUIRE_BROWSER=1, which turns that
skip into a failure, so a CI run never counts it as passed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from urllib.parse import quote

import pytest
import websocket
from disputes.v1 import disputes_pb2 as pb
from temporalio.client import Client

from tests.integration.conftest import Api
from tests.integration.disputes_api import disputable, get, open_dispute, partial

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


def chromium() -> str:
    for name in CHROMIUM:
        found = shutil.which(name)
        if found:
            return found
    reason = "no Chromium here (Debian: apt-get install chromium; scripts/test.sh does it as root)"
    if os.environ.get("DP_REQUIRE_BROWSER"):
        pytest.fail(f"DP_REQUIRE_BROWSER is set but {reason}")
    pytest.skip(reason)


# The page's text with that of its frames: the UI renders user metadata's markdown in iframes
# (/render?content=...), apart from the page. Markdown's bold marks are dropped by the caller.
_TEXT = (
    "(() => { let t = document.body ? document.body.innerText : '';"
    " for (const f of document.querySelectorAll('iframe')) {"
    " try { t += '\\n' + f.contentDocument.body.innerText; } catch (e) {}"
    " try { t += '\\n' + (new URL(f.src).searchParams.get('content') || ''); } catch (e) {} }"
    " return t; })()"
)


class Page:
    """One headless Chromium tab driven over the DevTools protocol (its websocket): navigate,
    then read the rendered text as often as needed. Real time, not virtual time: the UI keeps
    long-polls open on a running workflow, which virtual time would wait on for ever."""

    def __init__(self, browser: str) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="dp-chromium-", ignore_cleanup_errors=True)
        self._proc = subprocess.Popen(
            [
                browser,
                "--headless",
                "--no-sandbox",  # root in CI containers; the page is our own UI on 127.0.0.1
                "--disable-gpu",
                "--disable-dev-shm-usage",
                f"--user-data-dir={self._profile.name}",
                "--window-size=1400,2000",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        port = self._devtools_port()
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(t for t in targets if t["type"] == "page")
        self._ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
        self._next = 0

    def _devtools_port(self) -> int:
        assert self._proc.stderr is not None
        end = time.monotonic() + 30
        while time.monotonic() < end:
            line = self._proc.stderr.readline()
            if "DevTools listening on ws://" in line:
                return int(line.split("ws://127.0.0.1:")[1].split("/")[0])
            if not line and self._proc.poll() is not None:
                break
        raise AssertionError("Chromium did not open its DevTools port")

    def call(self, method: str, **params: object) -> dict[str, object]:
        self._next += 1
        self._ws.send(json.dumps({"id": self._next, "method": method, "params": params}))
        while True:
            answer = json.loads(self._ws.recv())
            if answer.get("id") == self._next:
                assert "error" not in answer, answer
                result: dict[str, object] = answer["result"]
                return result

    def text(self) -> str:
        found = self.call("Runtime.evaluate", expression=_TEXT, returnByValue=True)
        value = found["result"]
        assert isinstance(value, dict)
        return str(value.get("value", ""))

    def click(self, label: str) -> bool:
        """Click the first element whose own text is `label` (a tab, a section header)."""
        script = (
            "(() => { const el = [...document.querySelectorAll('button, a, summary, [role=tab], h2, h3, span, div')]"
            f".find(e => e.children.length === 0 && e.textContent.trim() === {json.dumps(label)});"
            " if (!el) return false; el.click(); return true; })()"
        )
        found = self.call("Runtime.evaluate", expression=script, returnByValue=True)["result"]
        return isinstance(found, dict) and bool(found.get("value"))

    def close(self) -> None:
        self._ws.close()
        self._proc.kill()
        self._proc.wait(timeout=10)
        self._profile.cleanup()


async def test_a_disputes_page_shows_its_summary_status_and_named_timer(
    api: Api, temporal_client: Client
) -> None:
    browser = chromium()
    (case,) = await disputable(api)
    d = await open_dispute(api, case, solution=partial(4_000))
    wf_id = f"dispute/{d.dispute_id}"
    handle = temporal_client.get_workflow_handle(wf_id)
    run_id = (await handle.describe()).run_id
    ui = f"http://127.0.0.1:{api.stack.ports.temporal_ui}"
    base = f"{ui}/namespaces/default/workflows/{quote(wf_id, safe='')}/{run_id}"
    summary, timer = f"Dispute on order {case.order.order_id}", "seller response window (15 days)"
    page = await asyncio.to_thread(Page, browser)
    try:
        for tab, shown in (("history", (summary, timer)), ("user-metadata", (summary, "Next deadline: "))):
            deadline = time.monotonic() + 180
            missing: list[str] = []
            while time.monotonic() < deadline:
                # A fresh load each round: the UI reads user metadata once per load (a query the
                # worker answers, slow when CI runs two suites at once), and the dispute moves on
                # within seconds here (a 0.5 s day). Within a load, the page may render slowly.
                await asyncio.to_thread(page.call, "Page.navigate", url=f"{base}/{tab}")
                settle = time.monotonic() + 15
                while True:
                    await asyncio.sleep(1)
                    text = (await asyncio.to_thread(page.text)).replace("**", "")
                    wanted: tuple[str, ...] = shown
                    if tab == "user-metadata":
                        # The status now (a 0.5 s day moves a dispute on within seconds).
                        status = pb.DisputeStatus.Name((await get(api, d.dispute_id)).status)
                        wanted = (*shown, f"Status: {status.removeprefix('DISPUTE_STATUS_')}")
                    missing = [w for w in wanted if w not in text]
                    if not missing or time.monotonic() > settle:
                        break
                if not missing:
                    break
            if missing:
                # Tell a UI that did not show them from a workflow that did not answer them.
                started = time.monotonic()
                try:
                    answer = str(await handle.query("__temporal_workflow_metadata"))[:1500]
                except Exception as e:  # shown in the failure, whatever it is
                    answer = f"{type(e).__name__}: {e}"
                took = time.monotonic() - started
                pytest.fail(
                    f"the UI's {tab} page lacks {missing}; it shows: {text[:3000]}\n"
                    f"the workflow's metadata query answered in {took:.1f} s: {answer}"
                )
    finally:
        await asyncio.to_thread(page.close)
