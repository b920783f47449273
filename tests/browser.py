"""Test tooling (tests/test_report_browser.py): open a rendered report.html in headless Chromium
and check it as a reader's browser shows it: every image loads, no table or image is wider than
its box or the page (nor cut off by a box that scrolls) at 1280 px and as printed on A4 portrait
(print media emulated at the printed width), no console errors; and screenshot it.

    python -m tests.browser reports/default/report.html --screenshot /tmp/report.png
    python -m tests.browser reports/default/report.html --print --widths

Chromium is driven through its DevTools protocol over a pipe (`--remote-debugging-pipe`: JSON
messages separated by NUL bytes on file descriptors 3 and 4), so no driver, websocket library or
downloaded browser is needed; only the system `chromium` (Debian's package).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
WIDTH, HEIGHT = 1280, 900

# A4 portrait (210 mm, narrower than Letter's 215.9 mm) less reports/html.py's 1 cm @page margins,
# in CSS px (96 per inch): the width a printed table must fit.
PRINT_WIDTH = round((210 - 2 * 10) / 25.4 * 96)

# Runs in the page after load; returns what the checks need as plain JSON. `fit` has one entry per
# table and image as laid out: its width against its box's (parent's) inner width and the page's,
# and whether a box that clips (overflow other than visible) hides part of it.
PAGE_CHECK = """(() => {
  const vw = document.documentElement.clientWidth;
  const scrolls = el => { for (let p = el.parentElement; p; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === 'auto' || o === 'scroll' || o === 'hidden') return true; } return false; };
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && (r.right > vw + 0.5 || r.left < -0.5) && !scrolls(el))
      wide.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}` +
                `${el.className ? '.' + String(el.className).split(' ')[0] : ''} ` +
                `(${Math.round(r.left)}..${Math.round(r.right)})`);
  }
  const heads = [...document.querySelectorAll('h1, h2')];
  const heading = el => { let h = '(top of page)';
    for (const x of heads) { if (x.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING)
      h = x.textContent.trim(); else break; } return h; };
  const clipped = el => { const r = el.getBoundingClientRect();
    for (let p = el.parentElement; p && p !== document.documentElement; p = p.parentElement) {
      if (getComputedStyle(p).overflowX === 'visible') continue;
      const b = p.getBoundingClientRect();
      if (r.right > b.left + p.clientLeft + p.clientWidth + 0.5 || r.left < b.left - 0.5) return true; }
    return false; };
  const fit = [...document.querySelectorAll('table, img')].filter(el =>
      el.getBoundingClientRect().width > 0).map(el => {
    const r = el.getBoundingClientRect();
    let box = el.parentElement;  // the nearest block around it (an <a> or <span> has no width)
    while (box.parentElement && /^(inline|contents)/.test(getComputedStyle(box).display))
      box = box.parentElement;
    return {kind: el.tagName.toLowerCase(), heading: heading(el), alt: el.alt || '',
            width: Math.ceil(Math.max(r.width, el.scrollWidth)), box: box.clientWidth,
            right: Math.ceil(r.right), clipped: clipped(el)}; });
  const imgs = [...document.images].map(i => ({alt: i.alt, complete: i.complete,
                                               width: i.naturalWidth}));
  return {scrollWidth: document.documentElement.scrollWidth, clientWidth: vw,
          scrollHeight: document.documentElement.scrollHeight, images: imgs,
          wide: wide.slice(0, 20), title: document.title, fit: fit,
          tables: document.querySelectorAll('table').length,
          ids: [...document.querySelectorAll('[id]')].map(e => e.id)};
})()"""


class BrowserError(RuntimeError):
    pass


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


class Chromium:
    """A headless Chromium child process spoken to over the DevTools pipe."""

    def __init__(self, exe: str, timeout: float = 60.0):
        self.timeout, self._id, self.events = timeout, 0, []
        self._profile = tempfile.mkdtemp(prefix="pixbench-chromium-")
        to_child, self._w = os.pipe()
        self._r, from_child = os.pipe()
        hi_in = fcntl.fcntl(to_child, fcntl.F_DUPFD, 10)  # above 3/4, so dup2 cannot clobber
        hi_out = fcntl.fcntl(from_child, fcntl.F_DUPFD, 10)
        for fd in (to_child, from_child):
            os.close(fd)

        def child_fds():
            os.dup2(hi_in, 3)
            os.dup2(hi_out, 4)

        args = [
            exe,
            "--headless",
            "--remote-debugging-pipe",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--hide-scrollbars",
            "--mute-audio",
            f"--user-data-dir={self._profile}",
            f"--window-size={WIDTH},{HEIGHT}",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            args,
            preexec_fn=child_fds,
            close_fds=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for fd in (hi_in, hi_out):
            os.close(fd)
        self._buf = b""

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            if time.monotonic() > deadline:
                raise BrowserError("no answer from chromium within the timeout")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise BrowserError(f"chromium closed the pipe (exit {self.proc.poll()})")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, session: str | None = None) -> dict:
        deadline = time.monotonic() + self.timeout
        for i, ev in enumerate(self.events):
            if ev.get("method") == method and ev.get("sessionId") == session:
                return self.events.pop(i)
        while True:
            ev = self._read_message(deadline)
            if ev.get("method") == method and ev.get("sessionId") == session:
                return ev
            self.events.append(ev)

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (BrowserError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def console_errors(events: list[dict]) -> list[str]:
    """Error-level console messages, uncaught exceptions and browser log errors."""
    out = []
    for ev in events:
        method, p = ev.get("method"), ev.get("params", {})
        if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p["args"]))
        elif method == "Runtime.exceptionThrown":
            out.append(p["exceptionDetails"].get("text", "exception"))
        elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
            out.append(f"{p['entry'].get('source')}: {p['entry'].get('text')}")
    return out


def inspect(
    html_path: str | Path,
    screenshot: str | Path | None = None,
    exe: str | None = None,
    width: int = WIDTH,
    media: str = "screen",
) -> dict:
    """Load `html_path` at `width` px under CSS media `media` ("print": the page as it prints,
    its `@media print` rules applied, at the printed page's width, e.g. PRINT_WIDTH); the page
    check's result plus `console_errors`, and a full-page PNG at `screenshot` when given."""
    exe = exe or find_browser()
    if exe is None:
        raise BrowserError(f"no browser found (looked for {', '.join(BROWSERS)})")
    url = Path(html_path).resolve().as_uri()
    with Chromium(exe) as b:
        target = b.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = b.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            b.send(f"{domain}.enable", session=sid)
        b.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
            session=sid,
        )
        b.send("Emulation.setEmulatedMedia", {"media": media}, session=sid)
        b.send("Page.navigate", {"url": url}, session=sid)
        b.wait_for("Page.loadEventFired", session=sid)
        value = b.send(
            "Runtime.evaluate",
            {"expression": PAGE_CHECK, "returnByValue": True, "awaitPromise": True},
            session=sid,
        )
        if "exceptionDetails" in value:
            raise BrowserError(f"page check failed: {value['exceptionDetails']}")
        result = value["result"]["value"]
        result["media"], result["width"] = media, width
        if screenshot is not None:
            shot = b.send(
                "Page.captureScreenshot",
                {
                    "format": "png",
                    "captureBeyondViewport": True,
                    "clip": {
                        "x": 0,
                        "y": 0,
                        "width": width,
                        "height": result["scrollHeight"],
                        "scale": 1,
                    },
                },
                session=sid,
            )
            Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
        result["console_errors"] = console_errors(b.events)
    return result


def misfits(result: dict) -> list[str]:
    """Each table or image wider than its box or the page, or cut off by a box that clips, named
    by the section (nearest heading) it sits in."""
    out = []
    for f in result.get("fit", []):
        what = f"{f['kind']} {f['alt']!r}" if f["kind"] == "img" else f["kind"]
        where = f"{what} in section {f['heading']!r} ({result.get('media', 'screen')})"
        if f["clipped"]:
            out.append(f"{where} is clipped by a box that scrolls or hides ({f['width']} px)")
        elif f["width"] > f["box"] + 0.5:
            out.append(f"{where} is {f['width']} px wide in a {f['box']} px box")
        elif f["right"] > result["clientWidth"] + 0.5:
            out.append(f"{where} ends at {f['right']} px on a {result['clientWidth']} px page")
    return out


def problems(result: dict, width: int | None = None) -> list[str]:
    """What a reader would see as broken, one line each (empty: the page is fine)."""
    width = width or result.get("width", WIDTH)
    out = [f"image {i['alt']!r} did not load" for i in result["images"] if not i["width"] > 0]
    if result["scrollWidth"] > width:
        out.append(f"page is {result['scrollWidth']} px wide at a {width} px window")
    out += [f"wider than the window outside a scroll box: {w}" for w in result["wide"]]
    out += misfits(result)
    out += [f"console error: {e}" for e in result["console_errors"]]
    return out


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m tests.browser", description=__doc__.splitlines()[0])
    p.add_argument("html")
    p.add_argument("--screenshot", help="full-page PNG to write")
    p.add_argument("--print", action="store_true", help=f"as printed ({PRINT_WIDTH} px, A4)")
    p.add_argument("--widths", action="store_true", help="list every table's width and box")
    a = p.parse_args(argv)
    media, width = ("print", PRINT_WIDTH) if a.print else ("screen", WIDTH)
    result = inspect(a.html, a.screenshot, width=width, media=media)
    bad = problems(result)
    print(
        f"{len(result['images'])} images, page {result['scrollWidth']}×{result['scrollHeight']} px"
    )
    for f in result["fit"] if a.widths else []:
        if f["kind"] == "table":
            print(f"table in {f['heading']!r}: {f['width']} px in a {f['box']} px box")
    for line in bad:
        print("problem:", line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
