"""The diagnose page's case (ui/diagnose_flow.py) driven through its transitions, without Streamlit."""

import copy
import hashlib

from ui.diagnose_flow import DiagnoseFlow
from ui.resume import kept

DETAILS = {"patient_id": "BN-0042", "age": 54, "sex": "female", "site": "face"}


def analysed(flow: DiagnoseFlow, model="efficientnetlite2-224-isic2017-v3", details=DETAILS) -> tuple:
    flow.choose("mel.jpg", b"photo bytes")
    flow.start()
    request = flow.request(model, details)
    flow.show(request, "image", "prediction")
    return request


def test_a_result_answers_only_the_photo_details_and_model_it_was_computed_for():
    flow = DiagnoseFlow()
    assert flow.request("m", DETAILS) is None  # no photo: nothing to analyse
    request = analysed(flow, model="m")
    assert request == ("m", hashlib.sha256(b"photo bytes").hexdigest(), 54, "female", "face")
    assert flow.result_for(request).prediction == "prediction"
    for changed in (flow.request("other model", DETAILS), flow.request("m", {**DETAILS, "age": 55})):
        assert flow.result_for(changed) is None  # a changed detail or model is never shown the old answer
    flow.choose("next.jpg", b"other bytes")
    assert flow.result_for(flow.request("m", DETAILS)) is None


def test_a_file_is_taken_once_and_an_example_replaces_it_until_the_next():
    flow = DiagnoseFlow()
    assert flow.take("file-1", "first.jpg", b"1") and not flow.take("file-1", "first.jpg", b"1")
    flow.choose("HAM10000 ISIC_1.jpg", b"example")
    assert not flow.take("file-1", "first.jpg", b"1") and flow.photo.name == "HAM10000 ISIC_1.jpg"
    assert flow.take("file-2", "second.jpg", b"2") and flow.photo.name == "second.jpg"


def test_new_patient_forgets_the_patient_but_not_the_cases_saved():
    flow = DiagnoseFlow()
    request = analysed(flow)
    flow.analyse_anyway(request)
    flow.ask_pdf(("report", request))
    flow.saved(("saved", request), 7)
    old_key = flow.analyse_key
    flow.new_patient()
    assert (flow.photo, flow.result, flow.gate_override, flow.pdf, flow.analysing) == (None, None, None, None, False)
    assert flow.saved_cases == {("saved", request): 7} and flow.analyse_key != old_key  # a new Analyse widget


def test_a_flagged_photo_is_shown_anyway_only_for_the_request_the_doctor_chose():
    flow = DiagnoseFlow()
    request = analysed(flow)
    assert not flow.overridden(request)
    flow.analyse_anyway(request)
    assert flow.overridden(request) and not flow.overridden(flow.request("m", {**DETAILS, "site": "back"}))


def test_a_refused_save_is_said_for_its_analysis_only_and_a_save_clears_it():
    flow = DiagnoseFlow()
    flow.save_failed(("a",), "no patient code")
    assert flow.save_error_for(("a",)) == "no patient code" and flow.save_error_for(("b",)) is None
    flow.saved(("a",), 3)
    assert flow.save_error_for(("a",)) is None and flow.saved_cases[("a",)] == 3


def test_a_pdf_is_the_one_asked_for_these_details_and_language():
    flow = DiagnoseFlow()
    flow.ask_pdf(("request", "en"))
    assert flow.pdf_for(("request", "vi")) is None and flow.pdf_for(("request", "en")).data is None


def test_a_reload_brings_back_the_case_without_the_result_or_the_pdf():
    flow = DiagnoseFlow()
    request = analysed(flow)
    flow.ask_pdf(("report",))
    flow.saved(request, 9)
    again = copy.deepcopy(kept(flow))  # what the resume table holds
    assert again.result is None and again.pdf is None and again.analysing and again.photo.name == "mel.jpg"
    assert again.saved_cases == {request: 9} and flow.result is not None  # the session's own stays whole
    assert kept({"patient_id": "x"}) == {"patient_id": "x"}


def test_an_analysis_is_counted_once_however_often_a_reload_computes_it_again():
    flow = DiagnoseFlow()
    request = analysed(flow)
    assert flow.first_answer(request) and not flow.first_answer(request)
    assert not copy.deepcopy(kept(flow)).first_answer(request)  # after a reload
    flow.new_patient()
    assert flow.first_answer(request)  # the next patient's analysis of the same photo is an analysis of its own
