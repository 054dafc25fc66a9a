"""Several doctors at once: each opens the app in its own browser session, uploads a photo and clicks Analyse
one second after the upload shows; prints how many got a result and how long it took.

    python -m ui.loadtest [--users 16] [--timeout 120]

Runs `streamlit run app.py` on a free local port and one headless Chromium with a separate context (own
cookies, own Streamlit session) per user, all at the same time. Prints JSON: users, results (how many saw
the ranked result within the timeout), and the median and 95th percentile of Analyse → result in seconds.
"""

import argparse
import asyncio
import json
import re
import time

import numpy as np

from skin_core import paths
from ui.browser import CHROMIUM_ARGS, chromium_path, served_app

EXAMPLES = paths.REPO_DIR / "assets" / "examples"
PHOTOS = sorted(EXAMPLES.glob("*.jpg"))


async def one_doctor(browser, url: str, user: int, timeout_s: float) -> float | None:
    """Seconds from the Analyse click to the ranked result, or None when none came."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1600})
    page = await context.new_page()
    try:
        await page.goto(url, timeout=timeout_s * 1000)
        await page.get_by_text("Lesion photo").wait_for(timeout=timeout_s * 1000)
        photo = PHOTOS[user % len(PHOTOS)]
        await page.locator("input[type=file]").first.set_input_files(str(photo), timeout=timeout_s * 1000)
        await page.get_by_text(photo.name).first.wait_for(timeout=timeout_s * 1000)
        await asyncio.sleep(1.0)
        started = time.perf_counter()
        await page.get_by_role("button", name="Analyse").click(timeout=timeout_s * 1000)
        await page.get_by_text(re.compile(r"^Most likely:")).wait_for(timeout=timeout_s * 1000)
        return time.perf_counter() - started
    except Exception:  # a timeout or a closed page: this doctor got no result, which is what is counted
        return None
    finally:
        await context.close()


async def run(users: int, timeout_s: float) -> dict:
    from playwright.async_api import async_playwright

    with served_app() as url:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                                       args=CHROMIUM_ARGS)
            await one_doctor(browser, url, 0, timeout_s)  # loads the model, as the first doctor of the day would
            times = await asyncio.gather(*(one_doctor(browser, url, user, timeout_s) for user in range(users)))
            await browser.close()
    answered = [t for t in times if t is not None]
    return {"users": users, "results": len(answered), "timeout_s": timeout_s,
            "median_s": round(float(np.median(answered)), 2) if answered else None,
            "p95_s": round(float(np.percentile(answered, 95)), 2) if answered else None}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ui.loadtest", description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds each doctor waits at most")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(args.users, args.timeout)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
