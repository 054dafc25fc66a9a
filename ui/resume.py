"""Keeping a doctor signed in, with the case being worked on, across a reload of the page (F5).

Every reload starts a new Streamlit session, and Streamlit cannot set a cookie of the app's own. What the browser
does keep is the random token in Streamlit's XSRF cookie (XSRF protection is on in .streamlit/config.toml): the
same on every load of the app until the browser is closed, and different in every other browser. A table in the
server's memory, keyed by a keyed hash of that token and the client's address, holds the signed-in user and a
copy of the case for a bounded time. Nothing of it is written to disk (patient data); a restart forgets it all.
docs/case-history.md, "Reload", says what is kept and for how long.
"""

import copy
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field, replace

import streamlit as st
from streamlit.runtime.state.session_state_proxy import get_session_state

from skin_core.cases import CaseError, CaseStore, UserInfo
from ui.diagnose_flow import FLOW_KEY, DiagnoseFlow
from ui.state import LANGUAGE, MODEL

IDLE_S = 15 * 60  # a kept sign-in ends 15 minutes after the last click in that browser...
LIFETIME_S = 8 * 60 * 60  # ... and 8 hours after the password was typed, however busy the doctor is
XSRF_COOKIE = "_streamlit_xsrf"
ENTRY = "resume_entry"  # the id of this session's entry in the table
# What a reload brings back: the choices and the diagnose page's case (its DiagnoseFlow, with the cases already
# saved from it, so that a reload never saves one twice with automatic saving). The result is computed again (a
# fraction of a second) rather than kept: its display-size photo and attention maps take megabytes.
KEPT = (LANGUAGE, MODEL, "details", "staff", FLOW_KEY, "case_lesion", "case_note")


@dataclass
class Entry:
    id: str
    user: UserInfo
    signed_in: float  # when the password was typed (the table's clock)
    seen: float  # the end of the last run of a session of this sign-in
    case: dict = field(default_factory=dict)


class ResumeTable:
    """The signed-in browsers, each under an HMAC of its id with a key drawn at start: the table holds nothing
    a browser could present. One entry per browser: a sign-in replaces the one before it."""

    def __init__(self, idle_s: float = IDLE_S, lifetime_s: float = LIFETIME_S, clock=time.monotonic):
        self.idle_s, self.lifetime_s, self.clock = idle_s, lifetime_s, clock
        self._secret = secrets.token_bytes(32)
        self._entries: dict[bytes, Entry] = {}
        self._lock = threading.Lock()

    def _key(self, browser: bytes) -> bytes:
        return hmac.new(self._secret, browser, hashlib.sha256).digest()

    def _prune(self, now: float) -> None:
        """Drop expired entries, their photos and patient details with them."""
        for key, entry in list(self._entries.items()):
            if now - entry.seen >= self.idle_s or now - entry.signed_in >= self.lifetime_s:
                del self._entries[key]

    def start(self, browser: bytes, user: UserInfo) -> str:
        """A sign-in with a password in this browser: a new entry, whose id the session keeps."""
        now = self.clock()
        entry = Entry(secrets.token_hex(16), user, now, now)
        with self._lock:
            self._prune(now)
            self._entries[self._key(browser)] = entry
        return entry.id

    def keep(self, browser: bytes, entry_id: str, case: dict) -> None:
        """The end of a run of a session of entry ``entry_id``: a copy of its case, and the time. Nothing once
        that entry has ended (expired, signed out, replaced by another sign-in): only a password starts one."""
        now = self.clock()
        with self._lock:
            self._prune(now)
            entry = self._entries.get(self._key(browser))
            if entry is not None and entry.id == entry_id:
                entry.case, entry.seen = copy.deepcopy(case), now

    def resume(self, browser: bytes, store: CaseStore) -> Entry | None:
        """This browser's live entry for a new session, if its user is still active with the same role (the
        entry of a deactivated user is dropped), as a copy: two tabs never share one patient's details.
        A CaseError (database unavailable) passes through and leaves the entry as it is."""
        now = self.clock()
        with self._lock:
            self._prune(now)
            entry = self._entries.get(self._key(browser))
        if entry is None:
            return None
        if not store.is_active(entry.user):
            self.forget(browser)
            return None
        with self._lock:
            if self._entries.get(self._key(browser)) is not entry:  # signed out meanwhile
                return None
            entry.seen = now
            return replace(entry, case=copy.deepcopy(entry.case))

    def forget(self, browser: bytes) -> None:
        with self._lock:
            self._entries.pop(self._key(browser), None)


@st.cache_resource(show_spinner=False)
def table() -> ResumeTable:
    """One table per server process, in its memory only."""
    return ResumeTable()


def xsrf_token(cookie: str | None) -> bytes | None:
    """The random token in an XSRF cookie ("2|mask|masked token|time"). The server sends the cookie again with a
    new mask on every load of the page, so the token, not the cookie's text, is what stays the same."""
    try:
        version, mask, masked, _ = cookie.split("|")
        mask, masked = bytes.fromhex(mask), bytes.fromhex(masked)
    except (AttributeError, ValueError):
        return None
    if version != "2" or len(mask) != 4 or len(masked) < 16:
        return None
    return bytes(byte ^ mask[index % 4] for index, byte in enumerate(masked))


def browser_id() -> bytes | None:
    """This browser: its XSRF token and its address (none on localhost or behind a local proxy), so that a token
    copied to another computer is of no use. None without the cookie (XSRF protection off, a test without a
    browser): then nothing is kept."""
    token = xsrf_token(st.context.cookies.get(XSRF_COOKIE))
    return None if token is None else token + b"|" + (st.context.ip_address or "").encode()


def remember(user: UserInfo) -> None:
    """After a sign-in with a password."""
    browser = browser_id()
    if browser is not None:
        st.session_state[ENTRY] = table().start(browser, user)


def forget() -> None:
    """At sign-out, also when a deactivated user is signed out: no reload in this browser brings it back."""
    browser = browser_id()
    if browser is not None:
        table().forget(browser)


def restore(store: CaseStore | None) -> None:
    """At the top of a new session's first run (a reload, another tab), before any widget is drawn: this
    browser's signed-in user and case, if kept. A session that has run before keeps its own state."""
    if store is None or LANGUAGE in st.session_state:
        return
    browser = browser_id()
    if browser is None:
        return
    try:
        entry = table().resume(browser, store)
    except CaseError:  # the app shows its maintenance page; the entry waits for the database
        return
    if entry is not None:
        st.session_state.update(entry.case)
        st.session_state["user"], st.session_state[ENTRY] = entry.user, entry.id


def keep() -> None:
    """At the end of every run of a signed-in session: the case as it is now, for the next reload. The state is
    read as a whole, without Streamlit's per-access checks: after a page's st.stop() every st.session_state
    access raises StopException again, and a run that stopped (any run before Analyse, the one after New
    patient) would keep nothing, so a reload brought back the patient before."""
    state = get_session_state().filtered_state
    entry_id = state.get(ENTRY)
    browser = None if entry_id is None else browser_id()
    if browser is not None:
        table().keep(browser, entry_id, {key: kept(state[key]) for key in KEPT if key in state})


def kept(value):
    """What a reload brings back of one value: a DiagnoseFlow without its result and PDF, anything else whole."""
    return value.kept() if isinstance(value, DiagnoseFlow) else value
