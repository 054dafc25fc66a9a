"""A real browser: `streamlit run app.py` on localhost, driven by Playwright in Debian's Chromium."""

import datetime
import os
import re
from pathlib import Path

import pytest

from skin_core import bundle as bundles
from tools.browser import CHROMIUM_ARGS, chromium_path, served_app

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = chromium_path()
SCREENSHOTS = REPO / "test-artifacts"


def require_browser() -> None:
    if not Path(CHROMIUM).exists():
        message = "needs Debian's chromium (apt-get install chromium)"
        if os.environ.get("SKIN_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def server():
    require_browser()
    with served_app() as served:
        yield served.url


# A released model other than the default, as the doctor reads it in each language.
OTHER_MODEL = bundles.read_catalogue(REPO / "weights").names["efficientnetlite2-224-v2"]


def choose(page, label: str, option: str):
    """Pick an option of the Streamlit select box with this label, as a user would: clicking its field again
    when the list did not open (a click while the page was still redrawing it was lost once in CI)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    choice = page.get_by_role("option", name=option, exact=True)
    for _ in range(3):
        box.get_by_role("combobox").click()
        try:
            choice.wait_for(timeout=10_000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    choice.click()
    return box


def press_analyse(page):
    """Select Analyse and wait for the result, as a user would: selecting it again when, after a while, there is
    no result and the control shows it unselected (a click while the page was still redrawing it was lost once
    in CI; selecting it again is harmless, the app keeps it selected until New patient)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    unselected = page.locator('[role="radio"][aria-checked="false"]').filter(has_text="Analyse")
    for _ in range(3):
        if unselected.count():
            unselected.first.click()
        try:
            page.get_by_text(re.compile("^Most likely")).wait_for(timeout=40_000)
            return
        except PlaywrightTimeout:
            continue


def test_diagnose_in_both_languages_and_compare_in_chromium(server):
    """Upload, analyse, switch to Vietnamese with the patient's details filled in (they must not change),
    then open the comparison page; screenshots of each land in test-artifacts/ for review."""
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.set_default_timeout(120_000)  # a click or fill may wait for a run on a busy 2-core CI machine
        page.goto(server, timeout=60_000)
        page.get_by_text("Lesion photo").wait_for(timeout=120_000)
        page.locator("input[type=file]").first.set_input_files(str(REPO / "assets" / "examples" / "mel.jpg"))
        page.get_by_test_id("stImageCaption").get_by_text("mel.jpg").wait_for(timeout=30_000)  # the server has it
        choose(page, "Sex", "female")
        choose(page, "Anatomical site", "face")
        press_analyse(page)
        expect(page.get_by_text(re.compile("^Most likely"))).to_be_visible(timeout=120_000)
        expect(page.get_by_text("Attention overlay")).to_be_visible(timeout=30_000)
        page.wait_for_timeout(2000)  # let the images finish drawing before the screenshot
        page.screenshot(path=str(SCREENSHOTS / "diagnose-en.png"), full_page=True)
        page.get_by_role("button", name="New patient").click()  # the next patient's photo waits for Analyse
        expect(page.get_by_text(re.compile("^Most likely"))).to_have_count(0, timeout=60_000)
        page.locator("input[type=file]").first.set_input_files(str(REPO / "assets" / "examples" / "bcc.jpg"))
        page.get_by_test_id("stImageCaption").get_by_text("bcc.jpg").wait_for(timeout=30_000)
        page.wait_for_timeout(3000)
        expect(page.get_by_text(re.compile("^Most likely"))).to_have_count(0)
        choose(page, "Sex", "female")
        choose(page, "Anatomical site", "face")
        press_analyse(page)
        expect(page.get_by_text(re.compile("^Most likely"))).to_be_visible(timeout=120_000)

        choose(page, "Language / Ngôn ngữ", "Tiếng Việt")
        expect(page.get_by_text(re.compile("^Khả năng cao nhất"))).to_be_visible(timeout=120_000)
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


def test_case_history_in_chromium(tmp_path):
    """History on: sign in, analyse, save the case, find and open it on the History page."""
    from playwright.sync_api import expect, sync_playwright

    from skin_core.cases import CaseStore

    require_browser()
    database = str(tmp_path / "cases.db")
    store = CaseStore.open(database)
    store.add_user("lan", "doctor password", "doctor")
    SCREENSHOTS.mkdir(exist_ok=True)
    with served_app(environment={"SKIN_CASES_DATABASE": database}) as served, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.set_default_timeout(120_000)  # a click or fill may wait for a run on a busy 2-core CI machine
        page.goto(served.url, timeout=60_000)
        page.get_by_label("User name").fill("lan", timeout=120_000)
        page.get_by_label("Password", exact=True).fill("doctor password")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("Lesion photo").wait_for(timeout=120_000)
        page.get_by_label("Patient identifier (the clinic's own code)").fill("BN-0042")
        page.get_by_label("Patient identifier (the clinic's own code)").press("Enter")
        page.locator("input[type=file]").first.set_input_files(str(REPO / "assets" / "examples" / "bcc.jpg"))
        page.get_by_test_id("stImageCaption").get_by_text("bcc.jpg").wait_for(timeout=30_000)  # the server has it
        press_analyse(page)
        expect(page.get_by_text(re.compile("^Most likely"))).to_be_visible(timeout=120_000)
        page.get_by_label("Lesion (e.g. left shoulder, lesion 1)").fill("nose, lesion 1")
        page.get_by_label("Lesion (e.g. left shoulder, lesion 1)").press("Enter")
        page.get_by_role("button", name="Save case").click()
        expect(page.get_by_text("Saved as case #1")).to_be_visible(timeout=60_000)

        page.get_by_role("link", name="Case history").click()
        expect(page.get_by_text("1 case (newest visit first)")).to_be_visible(timeout=60_000)
        choose(page, "Open a case", f"#1 · BN-0042 · {datetime.date.today()} · nose, lesion 1")
        expect(page.get_by_text("Case #1 · patient BN-0042")).to_be_visible(timeout=60_000)
        page.wait_for_timeout(2000)
        page.screenshot(path=str(SCREENSHOTS / "history-en.png"), full_page=True)
        browser.close()
    [case] = store.find_cases(store.authenticate("lan", "doctor password"))
    assert (case.patient_code, case.lesion_label, case.created_by) == ("BN-0042", "nose, lesion 1", "lan")
    store.close()


def test_choices_survive_a_language_switch_and_sign_out_starts_afresh_in_chromium(tmp_path):
    """The browser sends back the label it shows: after a language switch, and after the sign-in page drew no
    widgets, every box must show (and the app use) what the doctor chose, never the first option."""
    from playwright.sync_api import expect, sync_playwright

    from skin_core.cases import CaseStore

    require_browser()
    database = str(tmp_path / "cases.db")
    store = CaseStore.open(database)
    store.add_user("lan", "doctor password", "doctor")
    store.close()

    def sign_in(page):
        page.get_by_label("User name").fill("lan", timeout=120_000)
        page.get_by_label("Password", exact=True).fill("doctor password")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("Lesion photo").wait_for(timeout=120_000)

    def shows(page, expected: dict):
        for label, value in expected.items():
            box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
            expect(box).to_match_aria_snapshot(f'- combobox "{label}": {value}', timeout=30_000)

    with served_app(environment={"SKIN_CASES_DATABASE": database}) as served, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.set_default_timeout(120_000)  # a click or fill may wait for a run on a busy 2-core CI machine
        page.goto(served.url, timeout=60_000)
        sign_in(page)
        choose(page, "Model", OTHER_MODEL["en"])
        choose(page, "Sex", "female")
        choose(page, "Anatomical site", "face")
        choose(page, "Language / Ngôn ngữ", "Tiếng Việt")
        page.get_by_text("Ảnh tổn thương").wait_for(timeout=60_000)
        page.get_by_label("Tuổi (năm, không bắt buộc)").fill("54")  # any click after the switch
        page.get_by_label("Tuổi (năm, không bắt buộc)").press("Enter")
        page.wait_for_timeout(2000)
        shows(page, {"Mô hình": OTHER_MODEL["vi"], "Giới tính": "nữ", "Vị trí giải phẫu": "mặt"})
        choose(page, "Language / Ngôn ngữ", "English")
        page.get_by_text("Lesion photo").wait_for(timeout=60_000)
        shows(page, {"Model": OTHER_MODEL["en"], "Sex": "female", "Anatomical site": "face"})

        page.get_by_role("button", name="Sign out").click()
        sign_in(page)
        page.wait_for_timeout(2000)
        catalogue = bundles.read_catalogue(REPO / "weights")
        name = catalogue.names[catalogue.default]["en"]
        shows(page, {"Model": f"{name} (default)", "Sex": "unknown", "Anatomical site": "unknown"})
        browser.close()


def test_a_phone_shows_upload_details_and_analyse_first_in_chromium(server):
    """At 390×844 (a phone), the upload, the patient's details and Analyse are on the first screen; the example
    photos are folded away below them, under diagnosis names, and one still fills the form when chosen."""
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                has_touch=True)
        page.goto(server, timeout=60_000)
        page.get_by_text("Lesion photo").wait_for(timeout=120_000)
        analyse = page.get_by_role("radio", name="Analyse")
        expect(analyse).to_be_visible(timeout=30_000)
        page.wait_for_timeout(2000)  # let the page settle before measuring
        page.screenshot(path=str(SCREENSHOTS / "diagnose-phone.png"))
        for control in (page.locator("input[type=file]").first.locator(".."), analyse):
            box = control.bounding_box()
            assert box is not None and box["y"] + box["height"] <= 844, box
        melanoma = page.get_by_role("button", name="Melanoma", exact=True)
        expect(melanoma).to_be_hidden()
        page.get_by_text("Example photos from HAM10000").click()
        expect(melanoma).to_be_visible(timeout=30_000)
        melanoma.click()
        # the form is drawn anew from the example's details (for a moment the old field is still on the page)
        age = page.locator('input[aria-label="Age (years, optional)"][value="60"]')
        expect(age).to_have_count(1, timeout=60_000)
        browser.close()


def test_a_reload_keeps_the_sign_in_and_the_case_until_sign_out_in_chromium(tmp_path):
    """F5 starts a new Streamlit session: the doctor stays signed in, with the same photo, patient details, model
    and result (ui/resume.py). After signing out, a reload shows the sign-in page, and signing in again shows
    nothing of that patient. The password field is one a browser's password manager fills."""
    from playwright.sync_api import expect, sync_playwright

    from skin_core.cases import CaseStore

    require_browser()
    database = str(tmp_path / "cases.db")
    store = CaseStore.open(database)
    store.add_user("lan", "doctor password", "doctor")
    store.close()
    patient = "Patient identifier (the clinic's own code)"
    most_likely = re.compile("^Most likely")

    def sign_in(page):
        page.get_by_label("User name").fill("lan", timeout=120_000)
        password = page.get_by_label("Password", exact=True)
        expect(password).to_have_attribute("autocomplete", "current-password")
        password.fill("doctor password")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("Lesion photo").wait_for(timeout=120_000)

    def shows(page, expected: dict):
        for label, value in expected.items():
            box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
            expect(box).to_match_aria_snapshot(f'- combobox "{label}": {value}', timeout=30_000)

    with served_app(environment={"SKIN_CASES_DATABASE": database}) as served, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.set_default_timeout(120_000)  # a click or fill may wait for a run on a busy 2-core CI machine
        page.goto(served.url, timeout=60_000)
        sign_in(page)
        choose(page, "Model", OTHER_MODEL["en"])
        page.get_by_label(patient).fill("BN-0077")
        page.get_by_label(patient).press("Enter")
        choose(page, "Sex", "female")
        choose(page, "Anatomical site", "face")
        page.locator("input[type=file]").first.set_input_files(str(REPO / "assets" / "examples" / "bcc.jpg"))
        page.get_by_test_id("stImageCaption").get_by_text("bcc.jpg").wait_for(timeout=30_000)  # the server has it
        press_analyse(page)
        expect(page.get_by_text(most_likely)).to_be_visible(timeout=120_000)
        result = page.get_by_text(most_likely).inner_text()
        page.get_by_label("Lesion (e.g. left shoulder, lesion 1)").fill("nose, lesion 1")
        page.get_by_label("Lesion (e.g. left shoulder, lesion 1)").press("Enter")
        page.get_by_role("button", name="Save case").click()
        expect(page.get_by_text("Saved as case #1")).to_be_visible(timeout=60_000)

        page.reload()
        expect(page.get_by_text(most_likely)).to_have_text(result, timeout=120_000)
        expect(page.get_by_text("Signed in as lan (doctor)")).to_be_visible()
        expect(page.get_by_text("Photo being analysed: bcc.jpg")).to_be_visible()
        expect(page.get_by_text("Saved as case #1")).to_be_visible()  # not offered for saving a second time
        expect(page.get_by_label("Lesion (e.g. left shoulder, lesion 1)")).to_have_value("nose, lesion 1")
        expect(page.get_by_label(patient)).to_have_value("BN-0077")
        shows(page, {"Model": OTHER_MODEL["en"], "Sex": "female", "Anatomical site": "face"})

        page.get_by_role("button", name="New patient").click()  # a reload now brings back the new patient only
        expect(page.get_by_text(most_likely)).to_have_count(0, timeout=60_000)
        page.get_by_label(patient).fill("BN-0078")
        page.get_by_label(patient).press("Enter")
        page.wait_for_timeout(3000)
        page.reload()
        page.get_by_text("Lesion photo").wait_for(timeout=120_000)
        expect(page.get_by_label(patient)).to_have_value("BN-0078", timeout=60_000)
        page.wait_for_timeout(3000)
        expect(page.get_by_text(most_likely)).to_have_count(0)
        expect(page.get_by_text("Photo being analysed: bcc.jpg")).to_have_count(0)

        page.get_by_role("button", name="Sign out").click()
        page.get_by_label("User name").wait_for(timeout=60_000)
        page.reload()
        page.get_by_label("User name").wait_for(timeout=120_000)
        expect(page.get_by_text("Lesion photo")).to_have_count(0)
        sign_in(page)
        expect(page.get_by_label(patient)).to_have_value("")
        shows(page, {"Sex": "unknown", "Anatomical site": "unknown"})
        expect(page.get_by_text("bcc.jpg")).to_have_count(0)
        expect(page.get_by_text(most_likely)).to_have_count(0)
        browser.close()
    store = CaseStore.open(database)
    assert len(store.find_cases(store.authenticate("lan", "doctor password"))) == 1
    store.close()
