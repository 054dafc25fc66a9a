"""Several doctors at once against `streamlit run app.py` (the load test at a small size; the full figures
come from `python -m tools.loadtest --users 16`)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_browser import require_browser
from tools import loadtest
from tools.browser import CHROMIUM_ARGS, chromium_path, served_app
from tools.loadtest import main as loadtest_main, process_tree


def test_every_doctor_gets_a_result_when_clicking_analyse_right_after_the_upload(capsys):
    require_browser()
    assert loadtest_main(["--users", "3", "--timeout", "120", "--settle", "1"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["users"] == 3 and figures["no_answer"] == [] and figures["results"] == 3
    assert figures["clients"] == {"chromium": 3, "protocol": 0} and len(figures["answer_s"]["chromium"]) == 3
    assert 0 < figures["median_s"] <= figures["p95_s"]
    cpu = figures["cpu_s"]  # the server answered 3 analyses and 3 browser pages drew them: both used the CPU
    assert cpu["server"] > 0 and cpu["clients"] > 0
    assert cpu["server"] + cpu["clients"] <= cpu["wall"] * cpu["cores"] * 1.1  # no more than the machine has
    memory = figures["server_rss_mb"]
    assert set(memory) == {"warm", "peak", "after_close", "after_next_visit"} and min(memory.values()) > 0


def test_protocol_clients_measure_the_server_without_browsers(capsys):
    """Each doctor a client that speaks Streamlit's protocol: the same steps and answer, no page drawn, so the
    clients' CPU time is a small part of the server's."""
    assert loadtest_main(["--users", "3", "--timeout", "120", "--settle", "0", "--browsers", "0"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["clients"] == {"chromium": 0, "protocol": 3}
    assert figures["no_answer"] == [] and figures["results"] == 3 and len(figures["answer_s"]["protocol"]) == 3
    assert 0 < figures["median_s"] <= figures["p95_s"]
    assert figures["cpu_s"]["server"] > 0 and figures["cpu_s"]["clients"] > 0
    assert min(figures["server_rss_mb"].values()) > 0


def test_the_numbers_of_doctors_and_browsers_are_checked_before_anything_starts(capsys):
    with pytest.raises(SystemExit):
        loadtest_main(["--users", "3", "--browsers", "4"])
    assert "--browsers must be between 0 and --users (3), got 4" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        loadtest_main(["--users", "0"])
    assert "--users must be at least 1, got 0" in capsys.readouterr().err
    assert loadtest.error_line(TimeoutError()) == "TimeoutError: "  # a timeout without a message
    assert loadtest.error_line(ValueError("first\nsecond")) == "ValueError: first"


def test_a_protocol_client_reads_the_answer_and_the_step_it_did_not_pass():
    """The answer is what the app drew for the uploaded photo (its ranked result), and a photo that cannot
    be read stops the client at the upload, as a browser page is stopped."""
    import asyncio

    from tools.protocol_page import ProtocolPage

    async def visit(url):
        page = ProtocolPage(url, loadtest.ANSWER)
        try:
            await page.open(60)
            await page.upload(loadtest.UPLOADER, loadtest.PHOTOS[0], 60)
            started = time.perf_counter()
            await page.select(loadtest.ANALYSE, 60)
            answered = await page.wait_for_answer(60)
        finally:
            await page.close()
        missing = await loadtest.protocol_doctor(url, 1, 60, photo=Path("missing.jpg"))
        return page, answered - started, missing

    with served_app() as served:
        page, seconds, missing = asyncio.run(visit(served.url))
    assert 0 < seconds < 60 and page.options[loadtest.ANALYSE] == ["Analyse"]
    assert page.answer_text.startswith("Most likely: ")  # the ranked result, not a refusal
    assert {loadtest.UPLOADER, loadtest.ANALYSE} <= set(page.widget_ids) and page.session_id
    assert isinstance(missing, loadtest.NoAnswer) and missing.step == "upload" and "missing.jpg" in missing.error


def test_a_doctor_without_an_answer_is_reported_with_the_step_and_what_the_page_exchanged(tmp_path, monkeypatch):
    """A photo that cannot be uploaded stops the doctor at the upload; the page had loaded over its WebSocket,
    so the saved traffic shows frames both ways before the step that failed."""
    require_browser()
    import asyncio

    from playwright.async_api import async_playwright

    monkeypatch.setattr(loadtest, "FAILED_PAGES", tmp_path)

    async def visit(url):
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                                       args=CHROMIUM_ARGS)
            try:
                return await loadtest.one_doctor(browser, url, 5, 60, photo=tmp_path / "missing.jpg")
            finally:
                await browser.close()

    with served_app() as served:
        outcome = asyncio.run(visit(served.url))
    assert isinstance(outcome, loadtest.NoAnswer) and outcome.step == "upload"
    events = json.loads((tmp_path / "user-5.events.json").read_text(encoding="utf-8"))
    names = [event["event"] for event in events]
    assert names[0] == "open" and names[-1] == "no answer" and "upload" in names
    before_upload = names[: names.index("upload")]
    assert "websocket opened" in before_upload
    assert "frame sent" in before_upload and "frame received" in before_upload
    first_sent = next(event["detail"] for event in events if event["event"] == "frame sent")
    assert "rerun_script" in first_sent  # the page asked for its first script run
    assert [event["s"] for event in events] == sorted(event["s"] for event in events)
    assert (tmp_path / "user-5.png").is_file() and "Lesion photo" in (tmp_path / "user-5.txt").read_text()


def test_a_sent_frame_is_described_by_the_clicks_selections_and_files_it_carries():
    from streamlit.proto.BackMsg_pb2 import BackMsg

    message = BackMsg()
    widgets = message.rerun_script.widget_states.widgets
    widgets.add(id="example_mel", trigger_value=True)
    widgets.add(id="new_patient", trigger_value=False)
    widgets.add(id="analyse").string_array_value.data.append("analyse")
    widgets.add(id="camera_on", bool_value=False)
    widgets.add(id="age", double_value=40.0)
    upload = widgets.add(id="upload_0")
    upload.file_uploader_state_value.uploaded_file_info.add(file_id="a", name="mel.jpg", size=3)
    payload = message.SerializeToString()
    assert loadtest.describe_sent(payload) == (f"{len(payload)} bytes: rerun_script, clicks ['example_mel'], "
                                            f"selected ['analyse'], files 1")
    heartbeat = BackMsg(app_heartbeat=True).SerializeToString()
    assert loadtest.describe_sent(heartbeat) == f"{len(heartbeat)} bytes: app_heartbeat"
    assert loadtest.describe_sent(b"\xff\xff\xff") == "3 bytes"


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="CPU accounting reads Linux's /proc")
def test_cpu_accounting_counts_a_child_process_by_the_cpu_time_it_used():
    burn = "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass\ntime.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", burn])
    try:
        time.sleep(0.2)
        for _ in range(50):  # until its 0.6 s of CPU are spent and it sleeps
            parent, used = process_tree()[child.pid]
            time.sleep(0.3)
            if process_tree()[child.pid][1] == used and used > 0.5:
                break
        assert parent == os.getpid()
        assert 0.55 <= used <= 1.2  # 0.6 s of its own loop, plus the interpreter's start
    finally:
        child.kill()
        child.wait()
