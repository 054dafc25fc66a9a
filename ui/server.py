"""What the Streamlit server process needs before any page runs, set up in one explicit call from app.py
(idempotent: every run of app.py makes it, the first one counts): Streamlit's internals patched where they
cost doctors time or lost their uploads, and glibc told to hand large buffers back to the system."""

from streamlit.runtime.scriptrunner import script_runner

from ui.state import GLIBC
from ui.upload_answers import keep_upload_answers


def set_up_server() -> None:
    keep_upload_answers()
    keep_loaded_models()
    large_buffers_straight_from_the_system()


def keep_loaded_models() -> None:
    """Stop Streamlit from clearing Keras' global state after every script run.

    Streamlit does so for apps that build a Keras model in each run; this app loads each model once per process
    and shares it. The clearing empties TensorFlow's kernel cache and forces a full garbage collection, which
    cost, measured on the 2-core CPU, 0.35 s holding the GIL after every run (every slider step too) and the
    next prediction 0.7-1.2 s instead of 0.06 s. Streamlit is pinned; a test checks that this still takes."""
    if hasattr(script_runner, "_clean_problem_modules"):
        script_runner._clean_problem_modules = lambda: None


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def large_buffers_straight_from_the_system() -> None:
    """Serve every allocation of 1 MB or more (photos, attention maps, overlays, report images) from its own
    mapping, handed back to the system the moment it is freed. glibc's default raises that limit after a large
    buffer is freed (up to 32 MB, so after the first huge photo), and the display-size arrays of later sessions
    then stay in its heap after the sessions end: measured with 8 doctors each analysing a 59.9-megapixel
    photo, the server stayed 10 % above its warm size after they left, 6.6 % with a fixed 1 MB limit (and no
    slower). Elsewhere than glibc, a no-op."""
    if GLIBC is not None:
        GLIBC.mallopt(M_MMAP_THRESHOLD, 1 << 20)
