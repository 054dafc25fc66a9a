"""A reload keeps the sign-in and the case (ui/resume.py): the in-memory table, the XSRF token it is keyed by, and
the sign-in form's password field. The whole round trip in a browser is in test_browser.py."""

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.web.server.starlette.starlette_app_utils import generate_xsrf_token_string
from streamlit.web.server.starlette.starlette_server_config import XSRF_COOKIE_NAME

from skin_core.cases import COMMAND_LINE, CaseStore, UserInfo
from ui.resume import IDLE_S, LIFETIME_S, XSRF_COOKIE, ResumeTable, xsrf_token

REPO = Path(__file__).resolve().parent.parent
DOCTOR, ADMIN = UserInfo("lan", "doctor"), UserInfo("chi", "admin")
BROWSER, OTHER_BROWSER = b"\x01" * 16 + b"|", b"\x02" * 16 + b"|"
CASE = {"details": {"patient_id": "BN-0042", "age": 54, "sex": "female", "site": "face"},
        "photo": {"name": "mel.jpg", "bytes": b"photo", "sha": "abc"}, "chosen_model": "mobilenetv2"}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path):
    store = CaseStore.open(str(tmp_path / "cases.db"))
    store.add_user("lan", "doctor password", "doctor")
    store.add_user("chi", "admin password", "admin")
    yield store
    store.close()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def table(clock):
    return ResumeTable(clock=clock)


def signed_in(table, user=DOCTOR, browser=BROWSER, case=CASE) -> str:
    entry_id = table.start(browser, user)
    table.keep(browser, entry_id, case)
    return entry_id


def test_a_reload_gets_the_user_and_a_copy_of_the_case(table, store):
    entry_id = signed_in(table)
    entry = table.resume(BROWSER, store)
    assert (entry.id, entry.user, entry.case) == (entry_id, DOCTOR, CASE)
    entry.case["details"]["age"] = 60  # a second tab's change is its own
    assert table.resume(BROWSER, store).case["details"]["age"] == 54


def test_another_browser_gets_nothing(table, store):
    signed_in(table)
    assert table.resume(OTHER_BROWSER, store) is None
    assert all(BROWSER[:16] not in key for key in table._entries)  # under a keyed hash, not the token itself


def test_the_kept_sign_in_ends_after_15_idle_minutes_and_its_data_leave_memory(table, store, clock):
    entry_id = signed_in(table)
    for _ in range(3):  # a doctor at work: each click keeps it 15 more minutes
        clock.now += IDLE_S - 1
        table.keep(BROWSER, entry_id, CASE)
    assert table.resume(BROWSER, store) is not None
    clock.now += IDLE_S
    assert table.resume(BROWSER, store) is None and not table._entries
    table.keep(BROWSER, entry_id, CASE)  # the tab still open does not bring it back: only a password does
    assert table.resume(BROWSER, store) is None


def test_the_kept_sign_in_ends_8_hours_after_the_password_however_busy(table, store, clock):
    entry_id = signed_in(table)
    while clock.now < 1000 + LIFETIME_S - 60:
        clock.now += 60
        table.keep(BROWSER, entry_id, CASE)
    assert table.resume(BROWSER, store) is not None
    clock.now += 60
    assert table.resume(BROWSER, store) is None and not table._entries


def test_sign_out_revokes_it(table, store):
    entry_id = signed_in(table)
    table.forget(BROWSER)
    table.keep(BROWSER, entry_id, CASE)  # another tab of the signed-out user cannot restore it
    assert table.resume(BROWSER, store) is None


def test_a_deactivated_user_or_a_changed_role_is_not_restored(table, store):
    signed_in(table)
    signed_in(table, ADMIN, OTHER_BROWSER)
    store.set_user("lan", by=COMMAND_LINE, active=False)
    store.set_user("chi", by=COMMAND_LINE, role="doctor")
    assert table.resume(BROWSER, store) is None and table.resume(OTHER_BROWSER, store) is None
    store.set_user("lan", by=COMMAND_LINE, active=True)  # reactivated: a password is needed again
    assert table.resume(BROWSER, store) is None


def test_one_user_per_browser_and_never_another_users_case(table, store):
    """Lan's tab, still open, must not write Lan's patient into Chi's sign-in in the same browser."""
    lan = signed_in(table)
    signed_in(table, ADMIN, case={})
    table.keep(BROWSER, lan, CASE)
    entry = table.resume(BROWSER, store)
    assert (entry.user, entry.case) == (ADMIN, {})


def test_the_token_is_read_as_streamlit_writes_it():
    """The server sends the XSRF cookie with a new mask on every page load: the token inside is the same."""
    assert XSRF_COOKIE == XSRF_COOKIE_NAME
    token = bytes(range(16))
    cookies = {generate_xsrf_token_string(token, 1_700_000_000) for _ in range(5)}
    assert len(cookies) > 1 and {xsrf_token(cookie) for cookie in cookies} == {token}
    for broken in (None, "", "2|zz|00|1", "1|00000000|" + "00" * 16 + "|1", "2|0000|" + "00" * 16 + "|1"):
        assert xsrf_token(broken) is None


def test_xsrf_protection_stays_on():
    """Without it there is no XSRF cookie, and a reload signs the doctor out."""
    config = (REPO / ".streamlit" / "config.toml").read_text()
    assert re.search(r"^enableXsrfProtection = true$", config, re.MULTILINE)


def test_the_sign_in_password_is_offered_by_the_browser(store, tmp_path, monkeypatch):
    """A password manager fills a field marked current-password; new-password is for setting one."""
    monkeypatch.setenv("SKIN_CASES_DATABASE", str(tmp_path / "cases.db"))  # the store fixture's
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    assert at.text_input(key="login_password").proto.autocomplete == "current-password"
