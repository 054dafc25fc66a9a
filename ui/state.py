"""Session state, the process-wide model cache and the inference thread of the Streamlit app."""

import ctypes
import gc
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import streamlit as st

from skin_core import bundle as bundles
from skin_core import imaging
from skin_core.predictor import Predictor
from skin_core.reports import AttentionFigures


def bundle_catalogue() -> tuple[dict[str, str], str | None, dict[str, str]]:
    """The usable models a doctor may choose (name -> readable name), the default one (None if it is not
    among them) and, for each broken bundle, why it cannot be used. Those are the released models of
    weights/catalogue.json; without one, every clinical bundle's newest version. Research variants and
    older versions are left out: they are for the comparison page and for saved cases, not for a new
    diagnosis. Checked on every run, so that a bundle added or repaired shows up at once; read again only
    when a file in weights/ changed (reading every bundle's metrics took most of a run's time with 8 doctors at
    once)."""
    return _catalogue(bundles.weights_signature())


@st.cache_resource(show_spinner=False, max_entries=4)
def _catalogue(signature: tuple) -> tuple[dict[str, str], str | None, dict[str, str]]:
    usable, broken = bundles.scan()
    broken = {name: str(error) for name, error in broken.items()}
    try:
        catalogue = bundles.read_catalogue()
    except bundles.BundleError as error:
        catalogue, broken[bundles.CATALOGUE_FILE] = None, str(error)
    if catalogue is not None:
        offered = [b for b in usable if b.name in catalogue.released]
        broken.update({name: f"{name} is listed in {bundles.CATALOGUE_FILE} but is not in weights/"
                       for name in catalogue.released if name not in {b.name for b in usable} | set(broken)})
    else:
        superseded = {b.config.supersedes for b in usable}  # an older version stays for saved cases only
        offered = [b for b in usable if b.config.clinical and b.name not in superseded]
    clinical = {b.name: b.config.display_name or b.name for b in offered}
    try:
        default = bundles.default_bundle_name()
    except bundles.BundleError:
        default = None
    return clinical, default if default in clinical else None, broken


@st.cache_resource(show_spinner=False)
def predictor(name: str) -> Predictor:
    """Each bundle is loaded once per process and shared by every session. The loaded model's objects are
    then left out of later garbage collections (gc.freeze): they live as long as the process, and Streamlit
    collects after every script run, which otherwise rescans them each time (0.35 s measured)."""
    loaded = Predictor.from_bundle(bundles.open_bundle(name))
    gc.collect()
    gc.freeze()
    return loaded


@st.cache_data(show_spinner=False, max_entries=32)
def attention_in_lesion(name: str, version: str) -> AttentionFigures | None:
    """The bundle's measured attention inside the dermatologists' lesion masks (its metrics.json), read once
    per model version: a slider step redraws the overlay without reading the report again."""
    try:
        return bundles.open_bundle(name).report.attention_in_lesion
    except bundles.BundleError:
        return None


def heads_differ(heads, tolerance: float = 0.05) -> bool:
    """Whether the per-head attention maps (K, h, w) differ enough to be worth showing one by one: the largest
    mean absolute difference between a head and their average, each map scaled to [0, 1]."""
    scaled = [(h - h.min()) / (h.max() - h.min()) if h.max() > h.min() else h * 0 for h in heads]
    average = sum(scaled) / len(scaled)
    return max(float(abs(h - average).mean()) for h in scaled) > tolerance


@st.cache_resource(show_spinner=False)
def _inference_thread() -> ThreadPoolExecutor:
    """One long-lived thread runs every model call of the process. Streamlit runs each script run in a new
    thread, and TensorFlow's first call in a new thread costs about 0.3 s on the 2-core CPU (measured: 280 ms
    against 25 ms for the same photo); one thread also keeps concurrent sessions from competing for the two
    cores inside the model."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")


def analyse(name: str, photo: bytes, **details):
    """The photo decoded to display size, and the bundle's Prediction for it, both on the inference thread:
    decoding a huge PNG briefly takes hundreds of megabytes, so several sessions never do it at once."""
    def work():
        try:
            image = imaging.load_rgb(photo, max_side=imaging.DISPLAY_SIDE)
            return image, predictor(name).predict(image, **details)
        finally:
            _return_freed_memory()

    _idle_collector().busy()
    return _inference_thread().submit(work).result()


def collect_frozen_garbage() -> None:
    """A full garbage collection that includes what gc.freeze set aside, which is then set aside again.

    The freeze keeps the loaded models out of Streamlit's collection after every run, but it also pins
    whatever the frozen objects still point to once they become garbage: measured with a trace of the
    server, every ended session's photo and result stayed alive that way (about 7 MB per analysed
    59.9-megapixel photo) until the objects were unfrozen and collected."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    _return_freed_memory()


class IdleCollector(threading.Thread):
    """Runs collect_frozen_garbage every ``period_s`` seconds, when no analysis has started for ``idle_s``
    seconds: the collection holds Python's lock for a few tenths of a second, so not while doctors analyse."""

    def __init__(self, idle_s: float = 30.0, period_s: float = 60.0):
        super().__init__(daemon=True, name="idle-collector")
        self.idle_s, self.period_s, self.last_busy = idle_s, period_s, time.monotonic()

    def busy(self) -> None:
        self.last_busy = time.monotonic()

    def due(self, now: float) -> bool:
        return now - self.last_busy >= self.idle_s

    def run(self) -> None:
        while True:
            time.sleep(self.period_s)
            if self.due(time.monotonic()):
                collect_frozen_garbage()


@st.cache_resource(show_spinner=False)
def _idle_collector() -> IdleCollector:
    collector = IdleCollector()
    collector.start()
    return collector


def _glibc():
    """The C library's allocator controls, or None where the C library is not glibc."""
    try:
        library = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return library if hasattr(library, "malloc_trim") and hasattr(library, "mallopt") else None


GLIBC = _glibc()


def _return_freed_memory() -> None:
    """Hand the decoder's freed buffers back to the system (glibc keeps them otherwise; elsewhere a no-op)."""
    if GLIBC is not None:
        GLIBC.malloc_trim(0)


LANGUAGE = "chosen_language"  # the app's own state: what the doctor chose, never a widget's leftover value
MODEL = "chosen_model"
SIDEBAR, DETAILS = "sidebar", "details"  # groups of widgets that show app state
_KEPT_BY_SIGN_OUT = (LANGUAGE,)


def language() -> str:
    return st.session_state.get(LANGUAGE, "en")


def model_name() -> str | None:
    return st.session_state.get(MODEL)


def choose(state_key: str, widget: str, allowed) -> None:
    """on_change of a widget that shows app state: the widget's new value becomes the app's, if it is one of
    the allowed values (a browser can send a label the options no longer have)."""
    value = st.session_state.get(widget)
    if value in allowed:
        st.session_state[state_key] = value


def widget_key(group: str, field: str, language: str) -> str:
    """The key of a widget that shows app state. It changes with the language and whenever the group was not
    drawn in the last run (a sign-in page, an outage page, another page, a run cut short): Streamlit keeps a
    leftover value for a key it has seen, and a browser sends back the label it still shows, so a widget
    drawn again under its old key could hand the app a value the doctor never chose. A new key is a new
    widget, drawn from the app's state."""
    return f"{field}.{language}.{st.session_state.get(f'generation.{group}', 0)}"


def redraw_fresh(*groups: str) -> None:
    """Draw these widgets anew from the app's state in the next run."""
    for group in groups or (SIDEBAR, DETAILS):
        st.session_state[f"generation.{group}"] = st.session_state.get(f"generation.{group}", 0) + 1


def begin_run() -> None:
    """At the top of every run: groups that the last run did not draw are drawn anew."""
    for group in (SIDEBAR, DETAILS):
        if st.session_state.get(f"drawn.{group}") is False:
            redraw_fresh(group)
        st.session_state[f"drawn.{group}"] = False


def drawn(group: str) -> None:
    st.session_state[f"drawn.{group}"] = True


def clear_session() -> None:
    """Forget everything of the signed-out user (photo, result, patient, choices, open case); the language
    and the widget generations stay, so the next user's widgets are new ones."""
    kept = {key: value for key, value in st.session_state.items()
            if key in _KEPT_BY_SIGN_OUT or str(key).startswith("generation.")}
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    st.session_state.update(kept)
    redraw_fresh()
