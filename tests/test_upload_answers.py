"""The server's answer to an upload request survives a run cut short (ui/upload_answers.py)."""

from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime.forward_msg_queue import ForwardMsgQueue

from ui.upload_answers import keep_upload_answers


def message(kind: str) -> ForwardMsg:
    msg = ForwardMsg()
    if kind == "file_urls_response":
        msg.file_urls_response.response_id = "request-1"
    elif kind == "delta":
        msg.delta.new_element.markdown.body = "an outdated result"
        msg.metadata.delta_path[:] = [0, 1]
    else:
        msg.script_finished = ForwardMsg.FINISHED_EARLY_FOR_RERUN
    return msg


def test_a_run_cut_short_keeps_the_upload_answer_and_drops_the_old_page():
    keep_upload_answers()
    queue = ForwardMsgQueue()
    for kind in ("delta", "file_urls_response", "script_finished"):
        queue.enqueue(message(kind))
    queue.clear(retain_lifecycle_msgs=True)  # what a new run's start does
    kinds = [msg.WhichOneof("type") for msg in queue.flush()]
    assert sorted(kinds) == ["file_urls_response", "script_finished"]
    assert queue.is_empty()  # sent once: a flush does not keep it for the next one


def test_installing_twice_keeps_one_copy():
    keep_upload_answers()
    keep_upload_answers()
    queue = ForwardMsgQueue()
    queue.enqueue(message("file_urls_response"))
    queue.clear(retain_lifecycle_msgs=True)
    assert len(queue.flush()) == 1
