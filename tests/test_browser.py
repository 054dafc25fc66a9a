"""A real browser: `streamlit run app.py` on localhost, driven by Playwright in Debian's Chromium."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = REPO / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server():
    if not Path(CHROMIUM).exists():
        message = "needs Debian's chromium (apt-get install chromium)"
        if os.environ.get("SKIN_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("streamlit did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def choose(page, label: str, option: str):
    """Pick an option of the Streamlit select box with this label, as a user would."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    box.click()
    page.get_by_role("option", name=option, exact=True).click()
    return box


def test_diagnose_in_both_languages_and_compare_in_chromium(server):
    """Upload, analyse, switch to Vietnamese with the patient's details filled in (they must not change),
    then open the comparison page; screenshots of each land in test-artifacts/ for review."""
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(server, timeout=60_000)
        page.get_by_text("Lesion photo").wait_for(timeout=120_000)
        page.locator("input[type=file]").first.set_input_files(str(REPO / "assets" / "examples" / "mel.jpg"))
        page.get_by_text("mel.jpg").wait_for(timeout=30_000)
        choose(page, "Sex", "female")
        choose(page, "Anatomical site", "face")
        page.get_by_role("button", name="Analyse").click()
        expect(page.get_by_text("Most likely")).to_be_visible(timeout=120_000)
        expect(page.get_by_text("Attention overlay")).to_be_visible(timeout=30_000)
        page.wait_for_timeout(2000)  # let the images finish drawing before the screenshot
        page.screenshot(path=str(SCREENSHOTS / "diagnose-en.png"), full_page=True)

        choose(page, "Language / Ngôn ngữ", "Tiếng Việt")
        expect(page.get_by_text("Khả năng cao nhất")).to_be_visible(timeout=120_000)
        for label, value in (("Giới tính", "nữ"), ("Vị trí giải phẫu", "mặt")):  # the patient's data, translated
            box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
            expect(box).to_match_aria_snapshot(f'- combobox "{label}": {value}')
        page.wait_for_timeout(2000)
        page.screenshot(path=str(SCREENSHOTS / "diagnose-vi.png"), full_page=True)

        page.get_by_role("link", name="So sánh mô hình").click()
        expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=120_000)
        page.wait_for_timeout(3000)
        page.screenshot(path=str(SCREENSHOTS / "compare-vi.png"), full_page=True)
        browser.close()
    for name in ("diagnose-en.png", "diagnose-vi.png", "compare-vi.png"):
        assert (SCREENSHOTS / name).stat().st_size > 10_000
