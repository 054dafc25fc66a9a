"""The Streamlit app through streamlit.testing.v1.AppTest, against the bundles in weights/."""

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from skin_core import bundle as bundles
from skin_core.classes import CLASS_CODES
from ui import comparison
from ui.i18n import diagnosis_name, model_label, t

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "assets" / "examples"


@pytest.fixture
def app():
    if not bundles.list_bundles():
        pytest.fail("weights/ holds no model bundle; the app needs at least one")
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=180)
    at.run()
    assert not at.exception
    return at


def shown(elements, field: str, lang: str = "en"):
    """The widget that shows this field of the app's state in this language: its key also carries a generation
    that changes whenever the widget is drawn anew (ui.state.widget_key)."""
    [element] = [e for e in elements if str(e.key).startswith(f"{field}.{lang}.")]
    return element


def analyse(at, photo: bytes, name="lesion.jpg", age=60, sex="female", site="lower extremity", lang="en"):
    at.file_uploader[0].upload(name, photo, "image/jpeg").run()
    shown(at.number_input, "age", lang).set_value(age).run()
    shown(at.selectbox, "sex", lang).set_value(sex).run()
    shown(at.selectbox, "site", lang).set_value(site).run()
    press_analyse(at)
    assert not at.exception, at.exception
    return at


def analyse_control(at):
    """The Analyse control of the current patient (its key carries the patient's generation)."""
    [control] = [c for c in at.segmented_control if str(c.key).startswith("analyse.")]
    return control


def press_analyse(at):
    """What a click on Analyse sends: its one option selected (it stays selected, see the diagnose page)."""
    analyse_control(at).set_value("analyse").run()
    return at


def prepare_pdf(at):
    """The PDF is built only when asked for: click, then the download button appears."""
    assert not at.get("download_button")
    next(b for b in at.button if b.label in ("Prepare the PDF report", "Tạo báo cáo PDF")).click().run()
    assert not at.exception
    return at.get("download_button")[0]


def in_page_order(node):
    """Every element and block under ``node``, as the page draws them from top to bottom."""
    yield node
    for child in getattr(node, "children", {}).values():
        yield from in_page_order(child)


def ranked_table(at):
    return at.table[0].value


def test_melanoma_example_gives_ranked_result_overlay_and_banner(app):
    analyse(app, (EXAMPLES / "mel.jpg").read_bytes())
    table = ranked_table(app)
    assert len(table) == 7 and set(table["Diagnosis"]) == {diagnosis_name(code) for code in CLASS_CODES}
    probabilities = table["Probability"].to_numpy()
    assert np.all(np.diff(probabilities) <= 0) and probabilities.sum() == pytest.approx(1.0, abs=1e-4)
    captions = [caption for image in app.image for caption in image.captions]
    assert "Attention overlay" in captions
    assert any("Possible malignancy" in error.value for error in app.error)
    measured = bundles.open_bundle(app.session_state["diagnose"].result.request[0]).metrics["attention_in_lesion"]
    assert any(f"{measured['mass_inside_lesion']:.0%} of this model's attention fell inside" in c.value
               for c in app.caption)  # how far to trust the map, measured
    drawn = list(in_page_order(app.main))
    result = next(i for i, e in enumerate(drawn) if e.type == "markdown" and e.value.startswith("Most likely"))
    examples = next(i for i, e in enumerate(drawn) if getattr(e, "label", None) == t("examples", "en"))
    assert result < examples  # the result shows where the doctor looks, above the examples
    assert any(markdown.value.startswith("Most likely") for markdown in app.markdown)
    assert prepare_pdf(app).proto.label == "Download PDF report"


def test_vietnamese_labels_everywhere(app):
    app.selectbox(key="language").set_value("vi").run()
    analyse(app, (EXAMPLES / "nv.jpg").read_bytes(), sex="male", site="back", lang="vi")
    table = ranked_table(app)
    assert list(table.columns) == ["Chẩn đoán", "Xác suất"]
    assert "Nốt ruồi sắc tố (nơ-vi hắc tố)" in set(table["Chẩn đoán"])
    assert any(markdown.value.startswith("Khả năng cao nhất") for markdown in app.markdown)
    assert shown(app.number_input, "age", "vi").label == "Tuổi (năm, không bắt buộc)"


@pytest.mark.parametrize("content", [b"this is not a photo", b"", b"\xff\xd8\xff\xe0" + b"\0" * 40])
def test_bad_file_gives_a_message_not_an_exception(app, content):
    app.file_uploader[0].upload("broken.jpg", content, "image/jpeg").run()
    press_analyse(app)
    assert not app.exception
    assert any("This photo cannot be used" in error.value for error in app.error)
    # the page keeps working: a good photo afterwards is analysed
    analyse(app, (EXAMPLES / "bcc.jpg").read_bytes())
    assert len(ranked_table(app)) == 7


def test_inputs_survive_other_pages_and_a_model_change_re_predicts(app):
    analyse(app, (EXAMPLES / "bkl.jpg").read_bytes(), age=71)
    first_model = app.session_state["diagnose"].result.request[0]
    app.switch_page("app_pages/compare.py").run()
    app.switch_page("app_pages/diagnose.py").run()
    assert shown(app.number_input, "age", "en").value == 71
    assert len(ranked_table(app)) == 7  # the result is still there
    others = [name for name in bundles.read_catalogue().released if name != first_model]
    if others:
        shown(app.selectbox, "model").set_value(others[0]).run()
        assert not app.exception
        assert app.session_state["diagnose"].result.request[0] == others[0]
        assert len(ranked_table(app)) == 7


def test_comparison_page_draws_charts_from_the_bundles(app):
    app.switch_page("app_pages/compare.py").run()
    assert not app.exception
    charts = app.get("plotly_chart")
    assert len(charts) >= 5
    models = set(app.dataframe[0].value["Model"])
    evaluated = bundles.evaluated_bundles()
    labels = comparison.model_labels(evaluated)
    released = bundles.read_catalogue().released
    assert models == {labels[b.name] for b in evaluated if b.name in released}  # the others on request


def test_about_page_has_a_model_card_per_bundle(app):
    app.switch_page("app_pages/about.py").run()
    assert not app.exception
    assert len(app.expander) == len(bundles.list_bundles())  # labelled by readable names (test_readable_model_names)
    assert any("HAM10000" in m.value for m in app.markdown)
    margins = [b.config.operating_point.threshold_as_is for b in bundles.scan()[0]
               if b.config.operating_point and b.config.operating_point.exposure_margin]
    assert margins  # the shipped clinical bundles say how their alert threshold was chosen
    for as_is in margins:
        assert any(f"15% paler, as another camera or light would make them (without that condition: {as_is:.2f})"
                   in m.value for m in app.markdown)
    framed = [b for b in bundles.scan()[0] if b.config.framing is not None]
    for bundle in framed:  # a framed bundle says that it crops, how far, and whose model it shows the crop
        assert any(f"cropped around the lesion so that it spans about {bundle.config.framing.target:.0%}" in m.value
                   for m in app.markdown)
        assert any(f"the model {model_label(bundle.config.members[0])}, shown each photo framed" in m.value
                   for m in app.markdown)


def test_a_non_skin_photo_is_refused_unless_the_doctor_overrides(app):
    from test_gate import landscape

    buffer = io.BytesIO()
    Image.fromarray(landscape()).save(buffer, format="PNG")
    analyse(app, buffer.getvalue(), name="garden.png")
    assert any("does not look like a dermoscopic photo" in w.value for w in app.warning)
    assert "Photo" in [caption for image in app.image for caption in image.captions]  # what was refused
    assert not app.table and not app.get("download_button")  # no ranked table, no report
    assert not any("Possible malignancy" in e.value for e in app.error)
    next(b for b in app.button if b.label.startswith("Analyse anyway")).click().run()
    assert not app.exception
    assert any("Outside the model's validated use" in e.value for e in app.error)
    # no triage advice for a photo outside the validated use: neither refer/biopsy nor follow-up
    assert any("No triage advice" in w.value for w in app.warning)
    shown_text = " ".join(m.value for m in [*app.error, *app.success, *app.info])
    assert "consider a biopsy" not in shown_text and "Advice: follow-up" not in shown_text
    assert len(ranked_table(app)) == 7 and prepare_pdf(app)


def test_broken_bundles_are_named_and_the_others_keep_working(tmp_path, monkeypatch):
    source = REPO / "weights" / "mobilenetv3small"
    for name in ("working", "bad-config", "damaged-model"):
        shutil.copytree(source, tmp_path / name)
    (tmp_path / "bad-config" / bundles.CONFIG_FILE).write_text("{ not json", encoding="utf-8")
    model = tmp_path / "damaged-model" / bundles.MODEL_FILE
    model.write_bytes(model.read_bytes()[:1000])
    names = {name: {"en": name, "vi": name} for name in ("working", "damaged-model", "bad-config")}
    bundles.write_catalogue(bundles.Catalogue("damaged-model", tuple(names), names), tmp_path)
    monkeypatch.setenv("SKIN_WEIGHTS_DIR", str(tmp_path))
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=180)
    at.run()
    assert not at.exception
    assert len(shown(at.selectbox, "model").options) == 2 and shown(at.selectbox, "model").value == "damaged-model"
    assert any("bad-config" in w.value and "config.json" in w.value for w in at.sidebar.warning)
    # the damaged model file is found when the model is loaded: a message, no trace, another model works
    analyse(at, (EXAMPLES / "mel.jpg").read_bytes())
    assert any("damaged-model" in e.value and "model.keras" in e.value for e in at.error)
    shown(at.selectbox, "model").set_value("working").run()
    assert not at.exception and len(ranked_table(at)) == 7
    for page in ("app_pages/compare.py", "app_pages/about.py"):
        at.switch_page(page).run()
        assert not at.exception


def record_pdf_calls(monkeypatch) -> list:
    """Replace the PDF builder by a recorder that still builds the PDF, to see what reaches it."""
    import ui.report

    calls, build = [], ui.report.pdf_report

    def recording(*args, **kwargs):
        pdf = build(*args, **kwargs)
        calls.append({**kwargs, "pdf": pdf})
        return pdf

    monkeypatch.setattr(ui.report, "pdf_report", recording)
    return calls


def test_switching_the_language_never_changes_patient_data(app, monkeypatch):
    calls = record_pdf_calls(monkeypatch)
    app.selectbox(key="language").set_value("vi").run()
    shown(app.text_input, "patient_id", "vi").input("BN-0042").run()
    shown(app.number_input, "age", "vi").set_value(47).run()
    shown(app.selectbox, "sex", "vi").set_value("female").run()
    shown(app.selectbox, "site", "vi").set_value("face").run()
    shown(app.text_input, "clinic", "vi").input("Trạm y tế xã Tân Phú").run()
    shown(app.text_input, "clinician", "vi").input("BS. Nguyễn Thị Lan").run()
    for lang in ("en", "vi", "en"):
        app.selectbox(key="language").set_value(lang).run()
        assert not app.exception
        assert shown(app.selectbox, "sex", lang).value == "female"
        assert shown(app.selectbox, "site", lang).value == "face"
        assert shown(app.number_input, "age", lang).value == 47
        assert shown(app.text_input, "patient_id", lang).value == "BN-0042"
    assert "female" in shown(app.selectbox, "sex", "en").options  # the labels follow the language
    app.selectbox(key="language").set_value("vi").run()
    shown(app.selectbox, "sex", "vi").set_value("male").run()
    app.selectbox(key="language").set_value("en").run()
    assert shown(app.selectbox, "sex", "en").value == "male"  # a change made in the other language is kept
    shown(app.selectbox, "sex", "en").set_value("female").run()
    app.file_uploader[0].upload("lesion.jpg", (EXAMPLES / "mel.jpg").read_bytes(), "image/jpeg").run()
    press_analyse(app)
    assert app.session_state["diagnose"].result.request[2:] == (47, "female", "face")  # what the Predictor received
    prepare_pdf(app)
    sent = calls[-1]
    assert sent["details"] == {"patient_id": "BN-0042", "age": 47, "sex": "female", "site": "face"}
    assert sent["staff"] == {"clinic": "Trạm y tế xã Tân Phú", "clinician": "BS. Nguyễn Thị Lan"}
    assert sent["photo_name"] == "lesion.jpg" and sent["language"] == "en"


def test_a_phone_photo_is_kept_display_sized_and_its_pdf_is_small(app, monkeypatch):
    calls = record_pdf_calls(monkeypatch)
    lesion = np.array(Image.open(EXAMPLES / "nv.jpg").resize((4000, 3000)))
    noisy = np.clip(lesion + np.random.default_rng(0).normal(0, 6, lesion.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noisy).save(buffer, format="JPEG", quality=95)
    analyse(app, buffer.getvalue(), name="IMG_2041.jpg")
    image = app.session_state["diagnose"].result.image
    assert max(image.shape[:2]) <= 1024 and app.session_state["diagnose"].result.prediction.attention.shape == image.shape[:2]
    app.slider(key="opacity").set_value(80).run()
    assert not calls  # a slider step builds no PDF
    button = prepare_pdf(app)
    assert len(calls) == 1 and button
    pdf = calls[-1]["pdf"]
    assert pdf.startswith(b"%PDF") and len(pdf) < 2 * 2**20


def test_only_released_models_are_offered_for_diagnosis_under_their_names_in_both_languages(app):
    catalogue = bundles.read_catalogue()
    research = [b for b in bundles.scan()[0] if not b.config.clinical]
    assert shown(app.selectbox, "model").value == catalogue.default
    for language in ("en", "vi"):
        app.selectbox(key="language").set_value(language).run()
        offered = shown(app.selectbox, "model", language).options  # as the doctor reads them
        named = [catalogue.names[name][language] for name in catalogue.released]
        default_word = t("default_model", language)
        assert [o.removesuffix(f" ({default_word})") for o in offered] == named  # readable names, no folder names
        assert offered[catalogue.released.index(catalogue.default)].endswith(f"({default_word})")
    assert any(names["vi"] != names["en"] for names in catalogue.names.values())  # translated, where words differ
    for language in ("en", "vi"):  # whole in the sidebar's box (it shows about 32 characters)
        assert all(len(f"{names[language]} ({t('default_model', language)})") <= 32 for names in catalogue.names.values())
    app.selectbox(key="language").set_value("en").run()
    app.switch_page("app_pages/compare.py").run()
    app.toggle(key="compare_research").set_value(True).run()
    labels = comparison.model_labels(bundles.evaluated_bundles())
    assert {labels[b.name] for b in research} <= set(app.dataframe[0].value["Model"])


def test_an_alert_beside_a_benign_top_diagnosis_is_explained(app, monkeypatch):
    import ui.state
    from skin_core.predictor import Prediction

    ranked = [("nv", 0.52), ("mel", 0.20), ("bcc", 0.12), ("akiec", 0.08), ("bkl", 0.05), ("df", 0.02),
              ("vasc", 0.01)]
    crafted = Prediction(ranked=ranked, attention=None, attention_heads=None, malignant_probability=0.40,
                         malignancy_threshold=0.33, low_confidence=False, probabilities=dict(ranked))
    real = ui.state.predictor(app.session_state["chosen_model"])

    class Fixed:
        config, release = real.config, real.release

        def predict(self, *args, **kwargs):
            return crafted

    monkeypatch.setattr(ui.state, "predictor", lambda name: Fixed())
    analyse(app, (EXAMPLES / "nv.jpg").read_bytes())
    assert any("Possible malignancy" in e.value for e in app.error)
    assert any("Why the alert although the single most likely diagnosis is benign" in i.value for i in app.info)


def test_new_patient_clears_the_photo_result_and_details_but_not_the_clinic(app):
    shown(app.text_input, "clinic", "en").input("Provincial hospital").run()
    shown(app.text_input, "patient_id", "en").input("P-7").run()
    analyse(app, (EXAMPLES / "bcc.jpg").read_bytes(), age=70)
    assert len(ranked_table(app)) == 7
    next(b for b in app.button if b.label == "New patient").click().run()
    assert not app.exception and not app.table and app.session_state["diagnose"].photo is None
    assert shown(app.number_input, "age", "en").value is None and shown(app.text_input, "patient_id", "en").value == ""
    assert shown(app.selectbox, "sex", "en").value == "unknown"
    assert shown(app.text_input, "clinic", "en").value == "Provincial hospital"
    assert app.file_uploader[0].value is None  # the upload widget starts empty too


def test_a_chosen_photo_is_shown_before_analyse_and_the_disclaimer_once_with_a_result(app):
    app.button(key="example_nv").click().run()
    captions = [caption for image in app.image for caption in image.captions]
    assert any(caption.startswith("HAM10000 ") for caption in captions)  # the example, before Analyse
    press_analyse(app)
    assert not app.exception and len(ranked_table(app)) == 7
    disclaimer = t("disclaimer", "en")
    on_page = [e.value for e in [*app.main.info, *app.main.caption, *app.main.markdown, *app.main.warning]]
    assert on_page.count(disclaimer) == 1


def test_an_example_never_overwrites_what_the_doctor_typed(app):
    shown(app.number_input, "age", "en").set_value(33).run()
    shown(app.selectbox, "sex", "en").set_value("male").run()
    app.button(key="example_mel").click().run()
    assert shown(app.number_input, "age", "en").value == 33 and shown(app.selectbox, "sex", "en").value == "male"
    assert any("were kept" in i.value for i in app.info)
    next(b for b in app.button if b.label == "New patient").click().run()
    app.button(key="example_mel").click().run()  # empty form: the example fills it
    assert shown(app.number_input, "age", "en").value == 60 and shown(app.selectbox, "sex", "en").value == "female"


def test_words_a_doctor_reads(app):
    buffer = io.BytesIO()
    Image.open(EXAMPLES / "nv.jpg").save(buffer, format="GIF")
    analyse(app, buffer.getvalue(), name="lesion.gif")  # a GIF is read like any photo
    assert len(ranked_table(app)) == 7
    assert shown(app.number_input, "age", "en").value == 60  # a whole number, not 60.00
    captions = [caption for image in app.image for caption in image.captions]
    assert any(c.startswith("Colour scale") for c in captions)
    app.toggle(key="show_heads").set_value(True).run()
    captions = [caption for image in app.image for caption in image.captions]
    assert any(c.startswith("Map 1") for c in captions) or any("practically identical" in c.value
                                                                for c in app.caption)
    app.selectbox(key="language").set_value("vi").run()
    analyse(app, (EXAMPLES / "mel.jpg").read_bytes(), lang="vi")
    assert any("u hắc tố ác tính" in e.value for e in app.error)
    assert not any("Đầu" in c for image in app.image for c in image.captions)


def test_external_results_are_on_the_about_page(app):
    app.switch_page("app_pages/about.py").run()
    research = [b.name for b in bundles.scan()[0] if not b.config.clinical]
    assert sum("Research variant" in w.value for w in app.warning) == len(research)
    assert any("ISIC 2017 test set" in m.value and "isic2017_test" not in m.value for m in app.markdown)


def test_an_analyse_click_before_the_photo_arrives_is_kept(app):
    press_analyse(app)
    assert any("Choose a photo first" in w.value for w in app.warning)
    app.file_uploader[0].upload("late.jpg", (EXAMPLES / "nv.jpg").read_bytes(), "image/jpeg").run()
    assert not app.exception and len(ranked_table(app)) == 7  # the pending click analyses the photo


def test_analyse_stays_on_for_the_patient_until_new_patient(app):
    """The request to analyse is a value every later update repeats (a click is sent only once and can be
    dropped by Streamlit under load): a second click keeps it, a new photo is analysed without a click."""
    analyse(app, (EXAMPLES / "nv.jpg").read_bytes())
    analyse_control(app).set_value(None).run()  # what a second click on the selected option sends
    assert analyse_control(app).value == "analyse" and len(ranked_table(app)) == 7
    app.file_uploader[0].upload("next.jpg", (EXAMPLES / "bcc.jpg").read_bytes(), "image/jpeg").run()
    assert app.session_state["diagnose"].photo.name == "next.jpg" and len(ranked_table(app)) == 7
    assert app.session_state["diagnose"].result.request[1] == app.session_state["diagnose"].photo.sha
    key = analyse_control(app).key
    next(b for b in app.button if b.label == "New patient").click().run()
    assert analyse_control(app).value is None and not app.table
    assert analyse_control(app).key != key  # a new widget: a browser cannot send the old selection back


def test_an_example_replaces_an_uploaded_photo_until_the_next_upload(app):
    """The uploaded file is read while the page is drawn: one still in the uploader must not take the place of
    an example chosen after it, and a new upload must."""
    app.file_uploader[0].upload("first.jpg", (EXAMPLES / "nv.jpg").read_bytes(), "image/jpeg").run()
    assert app.session_state["diagnose"].photo.name == "first.jpg"
    app.button(key="example_mel").click().run()
    shown(app.number_input, "age", "en").set_value(50).run()  # any later run: the uploader still holds first.jpg
    assert app.session_state["diagnose"].photo.name.startswith("HAM10000")
    app.file_uploader[0].upload("second.jpg", (EXAMPLES / "bcc.jpg").read_bytes(), "image/jpeg").run()
    assert app.session_state["diagnose"].photo.name == "second.jpg"


def test_loaded_models_outlive_each_script_run(app, monkeypatch):
    """Streamlit clears Keras' global state after every run (emptying TensorFlow's kernel cache: the next
    prediction took 0.7-1.2 s instead of 0.06 s); the app keeps it, and keeps its loaded models out of every
    later garbage collection."""
    import gc

    import keras

    cleared = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *args, **kwargs: cleared.append(args))
    analyse(app, (EXAMPLES / "nv.jpg").read_bytes())
    app.run()
    assert cleared == [] and gc.get_freeze_count() > 0


def test_every_finding_of_the_input_check_has_a_message_its_own_advice_and_a_short_name_in_both_languages():
    from skin_core.gate import NOT_DERMOSCOPIC, QUALITY_PROBLEMS
    from ui.i18n import LANGUAGES, STRINGS

    findings = (NOT_DERMOSCOPIC, *QUALITY_PROBLEMS)
    for finding in findings:
        for key in (f"gate_{finding}", f"gate_advice_{finding}", f"gate_what_{finding}"):
            assert key in STRINGS and all(STRINGS[key]) and len(STRINGS[key]) == len(LANGUAGES), key
    for language in range(len(LANGUAGES)):  # each finding's advice is its own
        assert len({STRINGS[f"gate_advice_{finding}"][language] for finding in findings}) == len(findings)


def test_percentages_are_written_one_way_in_every_string():
    """As Babel writes them in both languages ("48%"): never "95 %" beside "48%" on one page."""
    import re

    from ui.i18n import STRINGS

    assert [key for key, texts in STRINGS.items() if any(re.search(r"\d %|\} %", text) for text in texts)] == []


def test_every_string_is_written_in_every_language():
    from ui.i18n import LANGUAGES, STRINGS

    incomplete = [key for key, texts in STRINGS.items()
                  if len(texts) != len(LANGUAGES) or not all(isinstance(text, str) and text.strip() for text in texts)]
    assert incomplete == []


def test_every_string_takes_the_same_values_in_both_languages():
    """A translation that drops or renames a value would raise (or show a raw brace) only in that language."""
    from string import Formatter

    from ui.i18n import STRINGS

    fields = lambda text: sorted({name for _, name, _, _ in Formatter().parse(text) if name})  # noqa: E731
    mismatched = {key: [fields(text) for text in texts] for key, texts in STRINGS.items()
                  if len({tuple(fields(text)) for text in texts}) > 1}
    assert mismatched == {}


def test_garbage_that_gc_freeze_set_aside_is_collected_by_the_idle_collection():
    """An ended session's photo and result must not outlive it because an object frozen with the models
    still points to them (measured in the server: every analysed photo stayed until unfrozen)."""
    import gc
    import weakref

    from ui.state import IdleCollector, collect_frozen_garbage

    class Node:
        pass

    first, second = Node(), Node()
    first.other, second.other = second, first  # a cycle, as a session's objects form
    probe = weakref.ref(second)
    gc.collect()
    gc.freeze()  # as when a model is loaded while this "session" is alive
    del first, second
    gc.collect()
    assert probe() is not None  # Streamlit's own collection after a run cannot free it
    collect_frozen_garbage()
    assert probe() is None and gc.get_freeze_count() > 0  # freed, and the living objects set aside again

    collector = IdleCollector(idle_s=30.0, period_s=60.0)
    collector.busy()
    assert not collector.due(collector.last_busy + 29.0) and collector.due(collector.last_busy + 30.0)


MARKDOWN_ATTACKS = ["![b](http://x/p.png)", "[l](http://x)", ":red[x]", "$x^2$", r"BN\-0042", "BN-*0042*",
                    ":smile: :streamlit: a -> b <https://x> www.x.com *not* `code` # heading"]


def displayed(source: str) -> str:
    """The text a browser shows for Markdown ``source``: rendered by a CommonMark parser with GitHub's
    extensions (Streamlit's frontend is one), the word joiners literal() adds left out. Raises if the
    rendering holds anything but text: a link, an image, emphasis, code."""
    import html
    import re

    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(source)
    tags = set(re.findall(r"</?(\w+)", rendered)) - {"p", "br", "h1", "h2", "h3"}
    assert not tags, f"{source!r} renders as {rendered!r}"
    return html.unescape(re.sub(r"<[^>]+>", "", rendered)).replace("\u2060", "").strip()


def streamlit_would_rewrite(source: str) -> list:
    """What Streamlit 1.67's own Markdown extensions would still do with ``source`` (its frontend's rules, in
    StreamlitMarkdown's source): load KaTeX for $...$, colour a :name[...] directive, link a bare address, or,
    in the text left after the Markdown escapes, replace :shortcodes:, :streamlit: and arrows such as "->"."""
    import re

    found = []
    unescaped = re.sub(r"\\[\\$`]", "_", source)  # what the frontend removes before looking for math
    if re.search(r"(?<!\$)\$(?![\s$])[^$\n]*?[^\s$]\$(?!\d)|(?<!\$)\$\$+(?!\$)[\s\S]*?\$\$", unescaped):
        found.append("math")
    if re.search(r"(?<!\\):[a-z][a-z0-9-]*\[", source):
        found.append("directive")
    if re.search(r"https?://|www\.|\w@\w", source):  # GitHub's bare links and e-mail addresses
        found.append("autolink")
    plain = re.sub(r"\\(.)", r"\1", source)  # the text nodes after the Markdown escapes
    if re.search(r":[\w-]+:", plain) or re.search(r"(^|\s)(<->|->|<-|--|>=|<=|~=)(\s|$)", plain):
        found.append("text rewrite")
    return found


@pytest.mark.parametrize("typed", MARKDOWN_ATTACKS)
def test_user_text_is_shown_as_typed_wherever_streamlit_reads_markdown(typed):
    from ui.i18n import literal, t

    assert displayed(literal(typed)) == typed
    assert streamlit_would_rewrite(literal(typed)) == []
    caption = t("current_photo", "en", name=literal(typed))  # inside a sentence, as the pages use it
    assert displayed(caption) == f"Photo being analysed: {typed}"


def test_an_uploaded_file_name_is_shown_as_typed(app):
    app.file_uploader[0].upload("![b](http:⁄⁄x.png) BN-*0042*.jpg", (EXAMPLES / "nv.jpg").read_bytes(),
                                "image/jpeg").run()
    press_analyse(app)
    assert not app.exception, app.exception
    [caption] = [c.value for c in app.caption if c.value.startswith("Photo being analysed")]
    assert displayed(caption) == "Photo being analysed: ![b](http:⁄⁄x.png) BN-*0042*.jpg"


def test_numbers_and_dates_in_each_language():
    import datetime

    from ui.i18n import count, formatted, t

    assert [formatted(v, "vi", s) for v, s in ((0.26, ".2f"), (4546744, ","), (0.263, ".1%"), (45.5, ""))] == \
        ["0,26", "4.546.744", "26,3%", "45,5"]
    assert [formatted(v, "en", s) for v, s in ((0.26, ".2f"), (4546744, ","), (0.263, ".1%"), (45.0, "g"))] == \
        ["0.26", "4,546,744", "26.3%", "45"]
    # a probability that only rounds to certainty is not shown as certain; a measured 100% stays 100%
    assert [formatted(p, "en", ".0%") for p in (0.9996, 0.004, 1.0, 0.0)] == ["> 99%", "< 1%", "100%", "0%"]
    assert formatted(0.9996, "vi", ".1%") == "> 99,9%"
    assert t("top_sentence", "vi", name="X", probability=0.998) == "Khả năng cao nhất: **X** (> 99%)."
    day = datetime.date(2026, 5, 4)
    assert (formatted(day, "en"), formatted(day, "vi")) == ("2026-05-04", "4/5/2026")
    assert formatted(datetime.datetime(2026, 5, 4, 9, 3, 7), "vi", "seconds") == "4/5/2026 09:03:07"
    assert formatted(None, "en") == "—" and t("example_details_kept", "en", age=None, sex="male", site="back") == \
        "The patient details you entered were kept; the example's own are age —, male, back."
    assert [count(n, "case", "en") for n in (1, 2)] == ["1 case", "2 cases"]
    assert [count(n, "case", "vi") for n in (1, 2)] == ["1 ca", "2 ca"]
    assert t("cases_found", "en", cases=count(1, "case", "en")) == "1 case (newest visit first)"


def test_a_certain_looking_probability_is_shown_as_below_certainty(app, monkeypatch):
    import ui.state
    from skin_core.predictor import Prediction

    ranked = [("nv", 0.9991), ("mel", 0.0006), ("bcc", 0.0001), ("akiec", 0.0001), ("bkl", 0.0001), ("df", 0.0),
              ("vasc", 0.0)]
    crafted = Prediction(ranked=ranked, attention=None, attention_heads=None, malignant_probability=0.0008,
                         malignancy_threshold=0.33, low_confidence=False, probabilities=dict(ranked))
    real = ui.state.predictor(app.session_state["chosen_model"])

    class Fixed:
        config, release = real.config, real.release

        def predict(self, *args, **kwargs):
            return crafted

    monkeypatch.setattr(ui.state, "predictor", lambda name: Fixed())
    analyse(app, (EXAMPLES / "nv.jpg").read_bytes())
    assert any(m.value.startswith("Most likely") and m.value.endswith("(> 99%).") for m in app.markdown)
    assert any("together: < 1%, below the alert threshold" in s.value for s in app.success)


def test_readable_model_names_and_plain_words_on_the_about_page(app):
    model = shown(app.selectbox, "model")
    assert "other dermatoscopes" in model.help  # README's advice, where the model is chosen
    assert not any("EfficientNetLite2" in option for option in model.options)
    app.switch_page("app_pages/about.py").run()
    assert not app.exception, app.exception
    labels = [e.label for e in app.expander]
    assert not set(labels) & set(bundles.list_bundles())  # no folder names as titles
    assert len(set(labels)) == len(labels)  # no two titles alike
    assert "EfficientNet-Lite2 (224 px) · older version" in labels
    assert not any("EfficientNetLite2" in label for label in labels)
    catalogue = bundles.read_catalogue()
    assert sum(label.endswith(" · offered for diagnosis") for label in labels) == len(catalogue.released)
    text = "\n".join(m.value for m in app.markdown)
    assert "EfficientNetLite2" not in text and "cuda:0" not in text and " CPU, GPU" not in text
    assert "processor cores and a graphics card (GPU)" in text and "temperature" not in text
    assert not any(str(value) in ("None", "nan") for frame in app.dataframe for value in frame.value.to_numpy().ravel())
    app.selectbox(key="language").set_value("vi").run()
    app.switch_page("app_pages/about.py").run()
    assert not app.exception, app.exception
    text = "\n".join(m.value for m in app.markdown)
    assert "lõi xử lý" in text and "nhiệt độ" not in text and "hai phía" not in text
    english = ("Ensemble", "colour constancy", "training photos", "no metadata", "zoom-out", "unweighted", "epochs")
    assert [label for label in (e.label for e in app.expander) if any(word in label for word in english)] == []


def test_vietnamese_words_a_doctor_uses():
    from ui.i18n import STRINGS, t

    vietnamese = "\n".join(texts[1] for texts in STRINGS.values())
    assert t("app_title", "vi") == "Hỗ trợ chẩn đoán tổn thương da"
    for awkward in ("quyết định tổn thương", "hai phía", "nhiệt độ", "Nhật ký truy cập", "16 bản đồ"):
        assert awkward not in vietnamese, awkward
    assert t("photo_storage_is", "vi", storage=t("storage_full", "vi")).count("lưu ảnh") <= 1
    assert "“Upload”" in t("upload", "vi") and "“50MB per file”" in t("upload", "vi")  # Streamlit's uploader speaks only English: say what it means
    assert "16" not in t("heads", "en")


def test_every_audited_action_has_words_in_both_languages():
    import re

    import skin_core.cases.store as store
    from ui.i18n import audit_action

    source = Path(store.__file__).read_text(encoding="utf-8")
    actions = set(re.findall(r'_audit\(session, \w+, "(\w+)"', source)) | set(store.AUDITED_EVENTS)
    actions |= {"login_failed", "delete_patient"}  # written as a condition's result and directly
    for action in actions:
        assert audit_action(action, "en") != action and audit_action(action, "vi") != action, action
