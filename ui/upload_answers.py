"""Keep Streamlit's answer to an upload request when a run is cut short (Streamlit 1.67).

To upload a photo the browser first asks the server, over the websocket, where to send it (a FileURLsRequest)
and waits for the answer. The server queues that answer with the page's output; when a newer click cuts the
current run short, the next run's start empties the queue, keeping only the run's own lifecycle messages, and
the answer goes with it. The browser then waits forever: the uploader stays empty and nothing says why
(measured on a busy 2-core server: a photo chosen right after changing the anatomical site never arrived).
The answer belongs to no run, so it is kept like those lifecycle messages.
"""

from streamlit.runtime.forward_msg_queue import ForwardMsgQueue

_clear_queue = ForwardMsgQueue.clear


def _clear_keeping_upload_answers(queue: ForwardMsgQueue, retain_lifecycle_msgs: bool = False, **kwargs) -> None:
    if not retain_lifecycle_msgs:  # a flush: the answers are being sent
        return _clear_queue(queue, retain_lifecycle_msgs=False, **kwargs)
    answers = [msg for msg in queue._queue if msg.WhichOneof("type") == "file_urls_response"]
    _clear_queue(queue, retain_lifecycle_msgs=True, **kwargs)  # a run cut short
    queue._queue.extend(answers)


def keep_upload_answers() -> None:
    """Install the fix once per server process (idempotent: every run of app.py calls it)."""
    ForwardMsgQueue.clear = _clear_keeping_upload_answers
