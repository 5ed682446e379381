"""Open a page in headless Chromium over the DevTools protocol and report what loaded."""

import base64
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import websocket

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
_FACTS = """JSON.stringify({
  ready: document.readyState,
  href: location.href,
  title: document.title,
  images: document.images.length,
  broken: Array.from(document.images)
    .filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt || i.src.slice(0, 60)),
  sections: Array.from(document.querySelectorAll("section"))
    .filter(s => s.getBoundingClientRect().height > 0).map(s => s.id),
  text: document.body ? document.body.innerText : ""
})"""


def browser() -> str | None:
    """The Chromium executable on PATH, if any."""
    return next(filter(None, map(shutil.which, BROWSERS)), None)


def page_facts(path: str, timeout: float = 60, screenshot: str | None = None) -> dict:
    """Load a local file; return its title, image counts, broken images and visible sections.

    With `screenshot` (an element id), also that element as rendered: PNG bytes.
    """
    with tempfile.TemporaryDirectory(
        prefix="signpipe-chromium-", ignore_cleanup_errors=True
    ) as profile:
        process = subprocess.Popen(
            [
                browser(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # `chromium` is a wrapper script: stop its whole group
        )
        try:
            return _facts(_devtools_url(process, timeout), path, timeout, screenshot)
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            # The zygote and renderers start sessions of their own; they all name the profile.
            subprocess.run(["pkill", "-9", "-f", profile], check=False)


def _devtools_url(process: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    for line in process.stderr:
        found = re.search(r"DevTools listening on (ws://\S+)", line)
        if found:
            return found[1]
        if time.monotonic() > deadline:
            break
    raise RuntimeError("Chromium did not start its DevTools endpoint")


def _facts(url: str, path: str, timeout: float, screenshot: str | None) -> dict:
    connection = websocket.create_connection(url, timeout=timeout)
    ids = itertools.count(1)

    def call(method: str, session: str | None = None, **params) -> dict:
        message_id = next(ids)
        message = {"id": message_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        connection.send(json.dumps(message))
        while True:
            reply = json.loads(connection.recv())
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    try:
        target = call("Target.createTarget", url=f"file://{os.path.abspath(path)}")["targetId"]
        session = call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        deadline = time.monotonic() + timeout
        while True:
            result = call("Runtime.evaluate", session, expression=_FACTS, returnByValue=True)
            # No value while the page is being replaced: evaluate again.
            facts = json.loads(result["result"].get("value") or '{"ready": "loading"}')
            loaded = facts["ready"] == "complete" and facts.get("href", "").startswith("file:")
            if loaded:
                if screenshot:
                    facts["screenshot"] = _capture(call, session, screenshot)
                return facts
            if time.monotonic() > deadline:
                raise RuntimeError(f"{path} did not finish loading in {timeout:.0f} s: {result}")
            time.sleep(0.2)
    finally:
        connection.close()


def _capture(call, session: str, element_id: str) -> bytes:
    """A PNG of one element, laid out at its full size."""
    rect = (
        f"JSON.stringify(document.getElementById({json.dumps(element_id)}).getBoundingClientRect())"
    )
    box = json.loads(
        call("Runtime.evaluate", session, expression=rect, returnByValue=True)["result"]["value"]
    )
    clip = {key: box[key] for key in ("x", "y", "width", "height")}
    shot = call(
        "Page.captureScreenshot",
        session,
        format="png",
        clip={**clip, "scale": 1},
        captureBeyondViewport=True,
    )
    return base64.b64decode(shot["data"])
