"""How long the diagnose page takes for an ordinary 12-megapixel phone photo, as a doctor sees it.

    python -m tools.benchmark [--runs 5] [--steps 8]

Starts `streamlit run app.py` on a free local port, drives it in Debian's Chromium (Playwright) and prints,
as JSON, the median and the largest time from clicking Analyse to the complete page (overlay and report
button drawn), the median and largest time of one opacity-slider step (until the new overlay is shown),
and the size of the PDF report. The first analysis loads the model and is not counted.
"""

import argparse
import io
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from skin_core import paths
from tools.browser import CHROMIUM_ARGS, chromium_path, served_app

PHOTO_SIZE = (4000, 3000)  # 12 megapixels
OVERLAY_CHANGED = """([old]) => [...document.querySelectorAll('[data-testid="stImage"]')]
    .some(e => e.innerText.includes('Attention overlay') && e.querySelector('img').src !== old)"""


def phone_photo(seed: int) -> bytes:
    """A 12-megapixel JPEG of an example lesion with sensor noise, as a phone writes it."""
    lesion = np.asarray(Image.open(paths.REPO_DIR / "assets" / "examples" / "nv.jpg").resize(PHOTO_SIZE))
    noisy = lesion + np.random.default_rng(seed).normal(0, 6, lesion.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def measure(runs: int, steps: int) -> dict:
    from playwright.sync_api import expect, sync_playwright

    folder = Path(tempfile.mkdtemp())
    analyse, slider = [], []
    try:
        with served_app() as served, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.goto(served.url, timeout=60_000)
            page.get_by_text("Lesion photo").wait_for(timeout=120_000)
            for run in range(runs + 1):
                photo = folder / f"IMG_{run}.jpg"
                photo.write_bytes(phone_photo(run))
                page.locator("input[type=file]").first.set_input_files(str(photo))
                page.get_by_text(photo.name).first.wait_for(timeout=60_000)
                started = time.perf_counter()
                page.get_by_role("button", name="Analyse").click()
                expect(page.get_by_text("Prepare the PDF report")).to_be_visible(timeout=120_000)
                expect(page.get_by_text("Attention overlay")).to_be_visible(timeout=60_000)
                if run:
                    analyse.append(time.perf_counter() - started)
                if run < runs:
                    page.get_by_role("button", name="New patient").click()
                    expect(page.get_by_text("Attention overlay")).to_be_hidden(timeout=60_000)
            overlay = page.locator('[data-testid="stImage"]').filter(has_text="Attention overlay").locator("img")
            page.get_by_role("slider").focus()
            for _ in range(steps):
                before = overlay.get_attribute("src")
                started = time.perf_counter()
                page.keyboard.press("ArrowRight")
                page.wait_for_function(OVERLAY_CHANGED, arg=[before], timeout=60_000)
                slider.append(time.perf_counter() - started)
            page.get_by_role("button", name="Prepare the PDF report").click()
            with page.expect_download(timeout=60_000) as download:
                page.get_by_role("button", name="Download PDF report").click()
            pdf_bytes = Path(download.value.path()).stat().st_size
            browser.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"photo": f"{PHOTO_SIZE[0]}x{PHOTO_SIZE[1]} JPEG", "runs": runs, "slider_steps": steps,
            "analyse_to_complete_page_s": {"median": round(statistics.median(analyse), 2), "max": round(max(analyse), 2)},
            "slider_step_s": {"median": round(statistics.median(slider), 2), "max": round(max(slider), 2)},
            "pdf_mb": round(pdf_bytes / 2**20, 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.benchmark", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.runs, args.steps), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
