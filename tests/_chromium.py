"""Headless Chromium for the tests: a page's DOM after its scripts ran (``--dump-dom``), and a
small DevTools-protocol client over ``--remote-debugging-pipe`` (no extra dependency) to click,
type and evaluate JavaScript in a page."""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def dump(page: Path | str, hash_: str = "", *, budget_ms: int = 20000) -> tuple[str, float]:
    """The DOM of ``page#hash_`` after its scripts ran, and the wall seconds Chromium took
    (start-up included)."""
    url = (Path(page).resolve().as_uri() if not str(page).startswith("file:") else str(page)) + (
        "#" + hash_ if hash_ else "")
    with tempfile.TemporaryDirectory() as profile:
        t0 = time.perf_counter()
        run = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}",
                              "--dump-dom", url], capture_output=True, text=True, timeout=120)
        secs = time.perf_counter() - t0
    if run.returncode != 0:
        raise RuntimeError(f"chromium failed ({run.returncode}): {run.stderr[-2000:]}")
    return run.stdout, secs


class Browser:
    """One headless Chromium driven through the DevTools protocol (JSON messages separated by
    NUL bytes on fds 3 and 4, ``--remote-debugging-pipe``). Use as a context manager."""

    def __init__(self):
        self._profile = tempfile.TemporaryDirectory()
        to_chrome, self._out = os.pipe()
        self._in, from_chrome = os.pipe()
        # the child's ends above fd 9, so that bash's 3<& and 4>& never overwrite one another
        to_chrome, from_chrome = (_high(fd) for fd in (to_chrome, from_chrome))
        cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={self._profile.name}", "--remote-debugging-pipe", "about:blank"]
        self.proc = subprocess.Popen(["bash", "-c", f'exec "$@" 3<&{to_chrome} 4>&{from_chrome}', "bash", *cmd],
                                     pass_fds=(to_chrome, from_chrome), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(to_chrome)
        os.close(from_chrome)
        self._buf, self._id, self.session = b"", 0, None

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, method: str, params: dict | None = None, *, session: bool = True, timeout: float = 30) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._out, json.dumps(msg).encode() + b"\0")
        end = time.monotonic() + timeout
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                m = json.loads(raw)
                if m.get("id") == self._id:
                    if "error" in m:
                        raise RuntimeError(f"{method}: {m['error']}")
                    return m["result"]
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer to {method} in {timeout} s")
            if select.select([self._in], [], [], left)[0]:
                chunk = os.read(self._in, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self._buf += chunk

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", {"url": url}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]

    def eval(self, expr: str):
        r = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expr}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait(self, expr: str, timeout: float = 30):
        """The first truthy value of ``expr``, polled."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            v = self.eval(expr)
            if v:
                return v
            time.sleep(0.05)
        raise TimeoutError(f"{expr} stayed false for {timeout} s")

    def click(self, selector: str) -> None:
        """A real mouse click (pressed and released) at the centre of the element."""
        x, y = self.eval(f"(function () {{ var e = document.querySelector({json.dumps(selector)}); e.scrollIntoView();"
                         " var r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def type(self, text: str, *, enter: bool = False) -> None:
        """Type into the focused element (and press Enter)."""
        self.send("Input.insertText", {"text": text})
        if enter:
            key = {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}
            self.send("Input.dispatchKeyEvent", {"type": "keyDown", "text": "\r", **key})
            self.send("Input.dispatchKeyEvent", {"type": "keyUp", **key})

    def close(self) -> None:
        try:
            self.send("Browser.close", session=False, timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._out, self._in):
            os.close(fd)
        self._profile.cleanup()


def _high(fd: int) -> int:
    """``fd`` moved to a number of at least 10."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return new
