"""One doctor's page as the server sees it, without a browser: Streamlit's WebSocket protocol and upload
endpoint driven with the messages Chromium sends (recorded with the load test's page trace).

The load test uses it to measure the server as if every doctor's browser ran on the doctor's own computer:
with Chromium, all the pages share the server's cores and their drawing sets the figures. The page loads
what a browser with an empty cache loads first (the index page and the scripts and style sheets it names:
2.3 of the 4.1 MB a fresh Chromium fetches; fonts and the widgets' scripts fetched later are left out),
opens the app (its first script run), uploads a photo the way the file uploader does (asks for an upload
URL, PUTs the file, reruns with the file's details), selects Analyse, and notes when the answer's text
arrives. It fetches the images a page shows, as a browser would, and sends every widget state it holds with
each rerun, as a browser does.
"""

import asyncio
import re
import time
import urllib.parse
import uuid
from pathlib import Path

import requests
import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

XSRF_COOKIE = "_streamlit_xsrf"
STATIC_FILE = re.compile(r'(?:src|href)="\./(static/[^"]+)"')  # in the index page


class ProtocolPage:
    """A Streamlit session opened over the WebSocket, its drawn widgets known by their keys."""

    def __init__(self, url: str, answer: re.Pattern):
        self.url, self.answer = url, answer
        self.widget_ids: dict[str, str] = {}  # a widget's key (as the app names it) -> Streamlit's widget id
        self.options: dict[str, list[str]] = {}  # an option widget's key -> its options as sent
        self.states: dict[str, WidgetState] = {}  # what the next rerun carries, by widget id
        self.answered_at: float | None = None
        self.answer_text = ""  # the drawn text that matched the answer
        self.session_id = self.page_hash = self.xsrf = self.socket = None
        self.timeout_s = 60.0  # for each request, as open() is told
        self._runs_finished, self._finished, self._answered = 0, asyncio.Condition(), asyncio.Event()
        self._file_urls: dict[str, asyncio.Future] = {}
        self._image_fetches: list[asyncio.Task] = []
        self._receiver: asyncio.Task | None = None

    async def open(self, timeout_s: float) -> None:
        """Load the page's files, connect as the browser does (the XSRF cookie from the health check, the
        token as a WebSocket subprotocol) and wait for the app's first script run."""
        self.timeout_s = timeout_s
        await asyncio.to_thread(self._load_static_files, timeout_s)
        health = await asyncio.to_thread(requests.get, f"{self.url}/_stcore/health", timeout=timeout_s)
        self.xsrf = health.cookies[XSRF_COOKIE]
        stream = urllib.parse.urlsplit(self.url)._replace(scheme="ws", path="/_stcore/stream").geturl()
        self.socket = await websockets.connect(
            stream, subprotocols=["streamlit", self.xsrf], max_size=None, open_timeout=timeout_s,
            additional_headers={"Cookie": f"{XSRF_COOKIE}={self.xsrf}", "Origin": self.url})
        self._receiver = asyncio.create_task(self._receive())
        await self.rerun(timeout_s)

    async def rerun(self, timeout_s: float) -> None:
        """Ask for a script run with the widget states held, and wait until it has finished."""
        runs = self._runs_finished
        await self._send_rerun()
        async with self._finished:
            await asyncio.wait_for(self._finished.wait_for(lambda: self._runs_finished > runs), timeout_s)

    async def upload(self, key: str, photo: Path, timeout_s: float) -> None:
        """The file uploader ``key`` takes ``photo``: an upload URL, the file PUT there, a rerun with it."""
        data = photo.read_bytes()
        request_id = str(uuid.uuid4())
        self._file_urls[request_id] = answer = asyncio.get_running_loop().create_future()
        message = BackMsg()
        message.file_urls_request.request_id = request_id
        message.file_urls_request.file_names.append(photo.name)
        message.file_urls_request.session_id = self.session_id
        await self.socket.send(message.SerializeToString())
        urls = await asyncio.wait_for(answer, timeout_s)
        del self._file_urls[request_id]
        response = await asyncio.to_thread(
            requests.put, self.url + urls.upload_url, files={"file": (photo.name, data)}, timeout=timeout_s,
            headers={"X-Xsrftoken": self.xsrf}, cookies={XSRF_COOKIE: self.xsrf})
        response.raise_for_status()
        state = WidgetState(id=self.widget_ids[key])
        info = state.file_uploader_state_value.uploaded_file_info.add(name=photo.name, size=len(data),
                                                                       file_id=urls.file_id)
        info.file_urls.CopyFrom(urls)
        self.states[state.id] = state
        await self.rerun(timeout_s)

    async def select(self, key: str, timeout_s: float) -> None:
        """Select the first option of the option widget ``key`` (Analyse) and send it, without waiting."""
        state = WidgetState(id=self.widget_ids[key])
        state.string_array_value.data.append(self.options[key][0])
        self.states[state.id] = state
        await asyncio.wait_for(self._send_rerun(), timeout_s)

    async def wait_for_answer(self, timeout_s: float) -> float:
        """The time (perf_counter) at which a drawn element's text first matched the answer."""
        try:
            await asyncio.wait_for(self._answered.wait(), timeout_s)
        except TimeoutError:
            raise TimeoutError(f"no answer within {timeout_s:g} s") from None
        return self.answered_at

    async def close(self) -> None:
        if self._image_fetches:
            await asyncio.gather(*self._image_fetches, return_exceptions=True)
        if self.socket is not None:
            await self.socket.close()
        if self._receiver is not None:
            self._receiver.cancel()

    def _load_static_files(self, timeout_s: float) -> None:
        with requests.Session() as session:
            index = session.get(self.url + "/", timeout=timeout_s)
            index.raise_for_status()
            for path in STATIC_FILE.findall(index.text):
                session.get(f"{self.url}/{path}", timeout=timeout_s).raise_for_status()

    async def _send_rerun(self) -> None:
        message = BackMsg()
        message.rerun_script.widget_states.widgets.extend(self.states.values())
        message.rerun_script.page_script_hash = self.page_hash or ""
        message.rerun_script.context_info.timezone = "UTC"
        message.rerun_script.context_info.url = self.url + "/"
        await self.socket.send(message.SerializeToString())

    async def _receive(self) -> None:
        async for payload in self.socket:
            message = ForwardMsg()
            message.ParseFromString(payload)
            kind = message.WhichOneof("type")
            if kind == "new_session":
                self.session_id = message.new_session.initialize.session_id
                self.page_hash = message.new_session.page_script_hash
            elif kind == "file_urls_response":
                future = self._file_urls.get(message.file_urls_response.response_id)
                if future is not None and not future.done():
                    future.set_result(message.file_urls_response.file_urls[0])
            elif kind == "script_finished":
                async with self._finished:
                    self._runs_finished += 1
                    self._finished.notify_all()
            elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
                self._drawn(message.delta.new_element)

    def _drawn(self, element) -> None:
        kind = element.WhichOneof("type")
        body = getattr(element, kind)
        widget_id = getattr(body, "id", "")
        if widget_id:  # "$$ID-<hash>-<key>"
            key = widget_id.split("-", 2)[-1]
            self.widget_ids[key] = widget_id
            if kind == "button_group":
                self.options[key] = [option.content for option in body.options]
        if kind == "imgs":
            for image in body.imgs:
                self._image_fetches.append(asyncio.create_task(
                    asyncio.to_thread(requests.get, urllib.parse.urljoin(self.url, image.url), timeout=self.timeout_s)))
        if self.answered_at is None:
            found = next((text for text in _texts(body) if self.answer.search(text)), None)
            if found is not None:
                self.answered_at, self.answer_text = time.perf_counter(), found
                self._answered.set()


def _texts(message) -> list[str]:
    """Every string in a protobuf message, nested messages included."""
    found = []
    for field, value in message.ListFields():
        values = value if field.is_repeated else [value]
        for item in values:
            if isinstance(item, str):
                found.append(item)
            elif hasattr(item, "ListFields"):
                found.extend(_texts(item))
    return found
