"""The diagnose page's case as one typed object: the chosen photo, the Analyse latch, the result on screen and what
was done with it (a flagged photo analysed anyway, the PDF, the saved cases).

The page (app_pages/diagnose.py) draws it and calls its transitions; the tests drive them without Streamlit. It
lives in the session state under FLOW_KEY, and a reload brings back ``kept()``: everything but the result and
the PDF, which are computed again rather than held (megabytes per doctor).
"""

import hashlib
from dataclasses import dataclass, field, replace

FLOW_KEY = "diagnose"
ANALYSE = "analyse"  # the Analyse control's one option, and its widget key with the patient's generation


@dataclass
class Photo:
    name: str
    data: bytes
    sha: str  # names the photo in a request: the same bytes are the same photo, whatever the file is called
    thumbnail: bytes | None = None  # a small JPEG, made once when first shown (None: not yet; b"": not readable)

    @classmethod
    def of(cls, name: str, data: bytes) -> "Photo":
        return cls(name, data, hashlib.sha256(data).hexdigest())


@dataclass
class Result:
    request: tuple  # (model, photo sha, age, sex, site): what it answers
    image: object  # the photo at display size (an RGB array)
    prediction: object  # skin_core.predictor.Prediction, as the clinic answers it


@dataclass
class PdfReport:
    key: tuple  # the analysis, language and details it shows: another key is another report
    data: bytes | None = None  # built when first drawn after the doctor asked for it


@dataclass
class DiagnoseFlow:
    generation: int = 0  # a new patient gets new upload and Analyse widgets (see ``analyse_key``)
    photo: Photo | None = None
    taken_file: str | None = None  # the upload or camera file shown last (an example replaces it until the next)
    example_details: dict | None = None  # an example's details, shown when the doctor's own were kept
    analysing: bool = False  # the Analyse latch: on until New patient
    result: Result | None = None
    gate_override: tuple | None = None  # the request whose flagged photo the doctor chose to analyse anyway
    pdf: PdfReport | None = None
    saved_cases: dict = field(default_factory=dict)  # saved key -> case number: a reload never saves twice
    counted: set = field(default_factory=set)  # requests already in the drift monitor's log: a reload recomputes
    save_error: tuple | None = None  # (saved key, the refusal in words)

    @property
    def analyse_key(self) -> str:
        """The Analyse widget of this patient. A browser sends a selected option again with every update, so the
        same widget, emptied on the server, would come back selected for the next patient and analyse before
        any detail is entered."""
        return f"{ANALYSE}.{self.generation}"

    def choose(self, name: str, data: bytes) -> None:
        self.photo = Photo.of(name, data)

    def take(self, file_id: str, name: str, data: bytes) -> bool:
        """Show an uploaded or photographed file unless it is the one shown last; whether it was new."""
        if file_id == self.taken_file:
            return False
        self.taken_file = file_id
        self.choose(name, data)
        return True

    def new_patient(self) -> None:
        """Everything of this patient goes; the cases saved from this browser stay known."""
        fresh = DiagnoseFlow(generation=self.generation + 1, saved_cases=self.saved_cases)
        self.__dict__.update(fresh.__dict__)

    def start(self) -> None:
        self.analysing = True

    def request(self, model: str, details: dict) -> tuple | None:
        """What an analysis of the chosen photo answers (None without a photo)."""
        if self.photo is None:
            return None
        return model, self.photo.sha, details["age"], details["sex"], details["site"]

    def result_for(self, request: tuple) -> Result | None:
        """The result on screen when it answers ``request``: a new photo, detail or model needs a new one."""
        return self.result if self.result is not None and self.result.request == request else None

    def show(self, request: tuple, image, prediction) -> Result:
        self.result = Result(request, image, prediction)
        return self.result

    def forget_result(self) -> None:
        self.result = None

    def first_answer(self, request: tuple) -> bool:
        """Whether this patient's analysis of ``request`` is answered for the first time (and so counted once,
        however often a reload computes it again)."""
        first = request not in self.counted
        self.counted.add(request)
        return first

    def analyse_anyway(self, request: tuple) -> None:
        """The doctor chose to see the result of a flagged photo (for this photo, details and model only)."""
        self.gate_override = request

    def overridden(self, request: tuple) -> bool:
        return self.gate_override == request

    def ask_pdf(self, key: tuple) -> None:
        self.pdf = PdfReport(key)

    def pdf_for(self, key: tuple) -> PdfReport | None:
        return self.pdf if self.pdf is not None and self.pdf.key == key else None

    def saved(self, key: tuple, case_id: int) -> None:
        self.saved_cases[key] = case_id
        self.save_error = None

    def save_failed(self, key: tuple, reason: str) -> None:
        self.save_error = (key, reason)

    def save_error_for(self, key: tuple) -> str | None:
        return self.save_error[1] if self.save_error is not None and self.save_error[0] == key else None

    def kept(self) -> "DiagnoseFlow":
        """What a reload brings back: all but the result and the PDF."""
        return replace(self, result=None, pdf=None, saved_cases=dict(self.saved_cases), counted=set(self.counted))
