"""Several doctors at once: each opens the app in its own browser session, uploads a photo and clicks Analyse
one second after the upload shows; prints how many got a result and how long it took.

    python -m tools.loadtest [--users 16] [--timeout 120] [--photo PATH] [--settle 150] [--browsers N]

Runs `streamlit run app.py` on a free local port and one headless Chromium with a separate context (own
cookies, own Streamlit session) per user, all at the same time. Prints JSON: users, results (how many saw
the ranked result, or the input check's refusal, within the timeout), the median and 95th percentile of
Analyse → result in seconds, the CPU seconds the server and the clients (the browsers, the Playwright driver
and this process) used from the first page opened to the last answer (next to the wall-clock seconds and the
cores: which of the two limits the figures), for each doctor who got no answer the step that did not complete
(a screenshot, the page's text and what passed between the page and the server go to test-artifacts/loadtest/),
and the server's memory (RSS, MB) once warm, at its peak, ``--settle`` seconds after every browser page closed
(Streamlit keeps a disconnected session for 120 s, in case its browser reconnects) and ``--settle`` seconds
after one more doctor then opened the app and left (Streamlit removes expired sessions only when it stores the
next one; the app's idle collection then frees what they held). ``--photo`` gives every doctor the same file
(a huge photo, say) instead of the 7 examples. ``--browsers N`` gives only the first N doctors a Chromium
page and the others a ``ProtocolPage`` that sends the server what the page would (tools/protocol_page.py), so
that their browsers do not take the server's cores: ``--browsers 0`` measures the server as if every doctor's
browser ran on the doctor's own computer, ``--browsers 1`` what one doctor's page shows while the others
analyse too. ``answer_s`` lists each kind of doctor's times.
"""

import argparse
import asyncio
import contextlib
import functools
import json
import os
import re
import threading
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from skin_core import paths
from skin_core.gate import NOT_DERMOSCOPIC, QUALITY_PROBLEMS
from tools.browser import CHROMIUM_ARGS, chromium_path, served_app
from ui.i18n import t
from tools.protocol_page import ProtocolPage

EXAMPLES = paths.REPO_DIR / "assets" / "examples"
PHOTOS = sorted(EXAMPLES.glob("*.jpg"))
FAILED_PAGES = paths.REPO_DIR / "test-artifacts" / "loadtest"
# What a doctor sees when the analysis is done: the ranked result, or the input check's refusal (the English
# texts' first sentences, so that a new finding of the check counts without editing this).
ANSWER = re.compile("|".join(re.escape(t(key).split(".")[0].split("**")[0]) for key in
                             ("top_sentence", *(f"gate_{finding}" for finding in (NOT_DERMOSCOPIC, *QUALITY_PROBLEMS)))))


UPLOADER, ANALYSE = "upload_0", "analyse.0"  # the diagnose page's widget keys in a new session


class NoAnswer(NamedTuple):
    step: str  # the step that did not complete: open, upload, click or answer
    error: str


def error_line(error: Exception) -> str:
    """An error's type and the first line of its message (a timeout's may be empty)."""
    return f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:200]}"


class PageTrace:
    """What passed between one doctor's page and the server, kept for a doctor who got no answer: every
    WebSocket frame (its direction, size and Streamlit message), the page's console messages
    (Streamlit logs a message it could not send while disconnected there) and the test's own steps, each with
    the seconds since the page opened. Without it a lost click cannot be placed: in the page, on the way, or
    in the server."""

    def __init__(self, page):
        self.started, self.events = time.perf_counter(), []
        page.on("websocket", self._websocket)
        page.on("console", lambda message: self.note("console", f"{message.type}: {message.text[:300]}"))

    def note(self, event: str, detail: str | bytes = "") -> None:
        self.events.append({"s": round(time.perf_counter() - self.started, 3), "event": event, "detail": detail})

    def _websocket(self, socket) -> None:
        self.note("websocket opened", socket.url)
        socket.on("framesent", lambda payload: self.note("frame sent", payload))
        socket.on("framereceived", lambda payload: self.note("frame received", payload))
        socket.on("close", lambda _: self.note("websocket closed"))

    def described(self) -> list[dict]:
        """The events with each frame put into words: done only for a doctor who got no answer, so that no
        page's frames are decoded while the doctors are being timed."""
        words = {"frame sent": describe_sent, "frame received": describe_received}
        return [{**event, "detail": words[event["event"]](event["detail"])} if event["event"] in words else event
                for event in self.events]


def _parsed(message, payload: bytes | str):
    """``message`` (an empty Streamlit protobuf) filled from a frame's payload, or None when it is not one."""
    from google.protobuf.message import DecodeError

    try:
        message.ParseFromString(payload.encode("latin-1") if isinstance(payload, str) else payload)
    except DecodeError:
        return None
    return message


def describe_sent(payload: bytes | str) -> str:
    """A frame the page sent, in words: its size and Streamlit's message type; for a script rerun, which
    widgets' clicks it carries, which option widgets (Analyse among them) hold a selection (widget ids) and
    how many files the uploaders hold in it."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    size, message = f"{len(payload)} bytes", _parsed(BackMsg(), payload)
    if message is None:
        return size
    kind = message.WhichOneof("type")
    if kind != "rerun_script":
        return f"{size}: {kind}"
    widgets = message.rerun_script.widget_states.widgets
    clicks = [w.id for w in widgets if w.WhichOneof("value") == "trigger_value" and w.trigger_value]
    selected = [w.id for w in widgets if w.WhichOneof("value") == "string_array_value" and w.string_array_value.data]
    files = sum(len(w.file_uploader_state_value.uploaded_file_info) for w in widgets
                if w.WhichOneof("value") == "file_uploader_state_value")
    return f"{size}: rerun_script, clicks {clicks}, selected {selected}, files {files}"


def describe_received(payload: bytes | str) -> str:
    """A frame the server sent, in words: its size and Streamlit's message type; for a new element, its kind
    and the start of its text, so that a script run can be followed (an "Analysing" note, a result)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    size, message = f"{len(payload)} bytes", _parsed(ForwardMsg(), payload)
    if message is None:
        return size
    kind = message.WhichOneof("type")
    if kind == "script_finished":
        return f"{size}: script_finished {ForwardMsg.ScriptFinishedStatus.Name(message.script_finished)}"
    if kind == "session_status_changed":
        return f"{size}: script running {message.session_status_changed.script_is_running}"
    if kind == "delta" and message.delta.WhichOneof("type") == "new_element":
        element_kind = message.delta.new_element.WhichOneof("type")
        text = getattr(getattr(message.delta.new_element, element_kind), "body", "")
        return f"{size}: {element_kind} {text[:60]!r}" if isinstance(text, str) and text else f"{size}: {element_kind}"
    return f"{size}: {kind}"


async def one_doctor(browser, url: str, user: int, timeout_s: float, photo: Path | None = None) -> float | NoAnswer:
    """Seconds from the Analyse click to the answer (result or refusal), or the step at which none came."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1600})
    page = await context.new_page()
    trace = PageTrace(page)
    step = "open"
    try:
        trace.note(step)
        await page.goto(url, timeout=timeout_s * 1000)
        await page.get_by_text("Lesion photo").wait_for(timeout=timeout_s * 1000)
        step = "upload"
        trace.note(step)
        photo = photo or PHOTOS[user % len(PHOTOS)]
        await page.locator("input[type=file]").first.set_input_files(str(photo), timeout=timeout_s * 1000)
        await page.get_by_text(photo.name).first.wait_for(timeout=timeout_s * 1000)
        await asyncio.sleep(1.0)
        step = "click"
        trace.note(step)
        started = time.perf_counter()
        await page.get_by_role("radio", name="Analyse").click(timeout=timeout_s * 1000)
        step = "answer"
        trace.note("clicked: waiting for the answer")
        await page.get_by_text(ANSWER).first.wait_for(timeout=timeout_s * 1000)
        return time.perf_counter() - started
    except Exception as error:  # a timeout or a closed page: this doctor got no answer, which is what is counted
        trace.note("no answer", f"{type(error).__name__} at step {step}")
        await save_failed_page(page, user, trace)
        return NoAnswer(step, error_line(error))
    finally:
        await context.close()


async def protocol_doctor(url: str, user: int, timeout_s: float, photo: Path | None = None) -> float | NoAnswer:
    """``one_doctor`` without a browser: the same steps over Streamlit's protocol (see ProtocolPage)."""
    page, step = ProtocolPage(url, ANSWER), "open"
    try:
        await page.open(timeout_s)
        step = "upload"
        await page.upload(UPLOADER, photo or PHOTOS[user % len(PHOTOS)], timeout_s)
        await asyncio.sleep(1.0)
        step = "click"
        started = time.perf_counter()
        await page.select(ANALYSE, timeout_s)
        step = "answer"
        return await page.wait_for_answer(timeout_s) - started
    except Exception as error:  # as in one_doctor: what is counted is that this doctor got no answer
        return NoAnswer(step, error_line(error))
    finally:
        await page.close()


async def next_visit(browser, url: str, timeout_s: float) -> None:
    """One more doctor opens the app and leaves: Streamlit keeps a closed page's session (its photo and result
    included) for ``server.disconnectedSessionTTL`` seconds in case the page reconnects, and removes the expired
    ones only when it stores the next closed session, so this is when the earlier sessions' memory goes."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(url, timeout=timeout_s * 1000)
    await page.get_by_text("Lesion photo").wait_for(timeout=timeout_s * 1000)
    await context.close()
    await asyncio.sleep(5.0)  # the server notices the closed socket and stores (and reaps) sessions


async def protocol_visit(url: str, timeout_s: float) -> None:
    """``next_visit`` without a browser."""
    page = ProtocolPage(url, ANSWER)
    await page.open(timeout_s)
    await page.close()
    await asyncio.sleep(5.0)


async def save_failed_page(page, user: int, trace: PageTrace) -> None:
    """What the doctor saw when no answer came (screenshot and text) and the page's traffic, for finding out
    why."""
    FAILED_PAGES.mkdir(parents=True, exist_ok=True)
    (FAILED_PAGES / f"user-{user}.events.json").write_text(json.dumps(trace.described(), indent=1), encoding="utf-8")
    with contextlib.suppress(Exception):
        await page.screenshot(path=FAILED_PAGES / f"user-{user}.png", full_page=True)
        (FAILED_PAGES / f"user-{user}.txt").write_text(await page.inner_text("body"), encoding="utf-8")


def process_tree() -> dict[int, tuple[int, float]]:
    """This process's descendants (Linux): pid -> (parent pid, CPU seconds it has used itself)."""
    ticks, found = os.sysconf("SC_CLK_TCK"), {}
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            found[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    descendants, parents = {}, {os.getpid()}
    while True:
        new = {pid: row for pid, row in found.items() if row[0] in parents and pid not in descendants}
        if not new:
            return descendants
        descendants.update(new)
        parents = set(new)


class ServerSampler(threading.Thread):
    """Every 0.2 s until stopped: the server's RSS (its peak is kept) and the CPU time used so far by the server
    and by everything else this process started (the browsers and the Playwright driver that steers them) or
    runs itself (protocol clients, and this sampler), each process as last seen, so that a page's renderer that
    has ended still counts."""

    def __init__(self, served):
        super().__init__(daemon=True)
        self.served, self.peak, self.running = served, 0.0, True
        self.start_cpu = self.cpu = {pid: used for pid, (_, used) in process_tree().items()}
        self.start_own_cpu = time.process_time()

    def run(self):
        while self.running:
            self.peak = max(self.peak, self.served.rss_mb() or 0.0)
            self.cpu = {**self.cpu, **{pid: used for pid, (_, used) in process_tree().items()}}
            time.sleep(0.2)

    def cpu_seconds(self) -> dict:
        """CPU seconds used since the sampler was made: by the server, and by the clients (the browsers and
        the driver this process started, and this process, where protocol clients run)."""
        used = {pid: total - self.start_cpu.get(pid, 0.0) for pid, total in self.cpu.items()}
        server = used.pop(self.served.pid, 0.0)
        clients = sum(used.values()) + time.process_time() - self.start_own_cpu
        return {"server": round(server, 1), "clients": round(clients, 1)}


async def run(users: int, timeout_s: float, photo: Path | None = None, settle_s: float = 150.0,
              browsers: int | None = None) -> dict:
    """The load test; the first ``browsers`` doctors (all by default) use Chromium pages, the others protocol
    clients."""
    browsers = users if browsers is None else browsers
    with served_app() as served:
        async with contextlib.AsyncExitStack() as stack:
            doctors, visit = [protocol_doctor] * users, protocol_visit
            if browsers:
                from playwright.async_api import async_playwright

                playwright = await stack.enter_async_context(async_playwright())
                browser = await playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                                           args=CHROMIUM_ARGS)
                stack.push_async_callback(browser.close)
                doctors[:browsers] = [functools.partial(one_doctor, browser)] * browsers
                visit = functools.partial(next_visit, browser)
            await doctors[0](served.url, 0, timeout_s, photo)  # loads the model, as the first doctor would
            warm = served.rss_mb()
            sampler = ServerSampler(served)
            sampler.start()
            started = time.perf_counter()
            times = await asyncio.gather(*(doctor(served.url, user, timeout_s, photo)
                                           for user, doctor in enumerate(doctors)))
            wall_s = time.perf_counter() - started
            cpu = sampler.cpu_seconds()
            await asyncio.sleep(settle_s)
            after = served.rss_mb()
            await visit(served.url, timeout_s)
            await asyncio.sleep(settle_s)
            after_next_visit = served.rss_mb()
            sampler.running = False
    answered = [t for t in times if not isinstance(t, NoAnswer)]
    by_client = {"chromium": times[:browsers], "protocol": times[browsers:]}
    rounded = lambda value: None if value is None else round(value)  # noqa: E731
    return {"users": users, "clients": {client: len(group) for client, group in by_client.items()},
            "results": len(answered), "timeout_s": timeout_s, "photo": photo.name if photo else "the 7 examples",
            "median_s": round(float(np.median(answered)), 2) if answered else None,
            "p95_s": round(float(np.percentile(answered, 95)), 2) if answered else None,
            "answer_s": {client: sorted(round(t, 2) for t in group if not isinstance(t, NoAnswer))
                         for client, group in by_client.items() if group},
            "no_answer": [{"user": user, **failure._asdict()} for user, failure in enumerate(times)
                          if isinstance(failure, NoAnswer)],
            "cpu_s": {**cpu, "wall": round(wall_s, 1), "cores": os.cpu_count()},
            "server_rss_mb": {"warm": rounded(warm), "peak": rounded(sampler.peak), "after_close": rounded(after),
                              "after_next_visit": rounded(after_next_visit)}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.loadtest", description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds each doctor waits at most")
    parser.add_argument("--photo", type=Path, default=None, help="the photo every doctor uploads")
    parser.add_argument("--settle", type=float, default=150.0,
                        help="seconds to wait after the pages closed before measuring memory again")
    parser.add_argument("--browsers", type=int, default=None,
                        help="how many of the doctors use a Chromium page (default: all); the others are clients that "
                             "speak Streamlit's protocol without drawing a page")
    args = parser.parse_args(argv)
    if args.users < 1:
        parser.error(f"--users must be at least 1, got {args.users}")
    if args.browsers is not None and not 0 <= args.browsers <= args.users:
        parser.error(f"--browsers must be between 0 and --users ({args.users}), got {args.browsers}")
    print(json.dumps(asyncio.run(run(args.users, args.timeout, args.photo, args.settle, args.browsers)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
