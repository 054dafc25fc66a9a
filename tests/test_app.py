"""The Streamlit app through streamlit.testing.v1.AppTest, against the bundles in weights/."""

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from skin_core import bundle as bundles

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


def analyse(at, photo: bytes, name="lesion.jpg", age=60.0, sex="female", site="lower extremity"):
    at.file_uploader[0].upload(name, photo, "image/jpeg").run()
    at.number_input(key="age").set_value(age)
    at.selectbox(key="sex").set_value(sex)
    at.selectbox(key="site").set_value(site)
    next(b for b in at.button if b.label in ("Analyse", "Phân tích")).click().run()
    assert not at.exception, at.exception
    return at


def ranked_table(at):
    return at.dataframe[0].value


def test_melanoma_example_gives_ranked_result_overlay_and_banner(app):
    analyse(app, (EXAMPLES / "mel.jpg").read_bytes())
    table = ranked_table(app)
    assert len(table) == 7 and set(table["Code"]) == {"akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"}
    probabilities = table["Probability"].to_numpy()
    assert np.all(np.diff(probabilities) <= 0) and probabilities.sum() == pytest.approx(1.0, abs=1e-4)
    captions = [caption for image in app.image for caption in image.captions]
    assert "Attention overlay" in captions
    assert any("Possible malignancy" in error.value for error in app.error)
    assert any(markdown.value.startswith("Most likely") for markdown in app.markdown)
    assert app.get("download_button")


def test_vietnamese_labels_everywhere(app):
    app.session_state["language"] = "vi"
    app.run()
    analyse(app, (EXAMPLES / "nv.jpg").read_bytes(), sex="male", site="back")
    table = ranked_table(app)
    assert list(table.columns) == ["Chẩn đoán", "Mã", "Xác suất"]
    assert "Nốt ruồi sắc tố (nơ-vi hắc tố)" in set(table["Chẩn đoán"])
    assert any(markdown.value.startswith("Khả năng cao nhất") for markdown in app.markdown)
    assert app.number_input(key="age").label == "Tuổi (năm, không bắt buộc)"


@pytest.mark.parametrize("content", [b"this is not a photo", b"", b"\xff\xd8\xff\xe0" + b"\0" * 40])
def test_bad_file_gives_a_message_not_an_exception(app, content):
    app.file_uploader[0].upload("broken.jpg", content, "image/jpeg").run()
    next(b for b in app.button if b.label == "Analyse").click().run()
    assert not app.exception
    assert any("This photo cannot be used" in error.value for error in app.error)
    # the page keeps working: a good photo afterwards is analysed
    analyse(app, (EXAMPLES / "bcc.jpg").read_bytes())
    assert len(ranked_table(app)) == 7


def test_inputs_survive_other_pages_and_a_model_change_re_predicts(app):
    analyse(app, (EXAMPLES / "bkl.jpg").read_bytes(), age=71.0)
    first_model = app.session_state["result_key"][0]
    app.switch_page("app_pages/compare.py").run()
    app.switch_page("app_pages/diagnose.py").run()
    assert app.number_input(key="age").value == 71.0
    assert len(ranked_table(app)) == 7  # the result is still there
    others = [name for name in bundles.list_bundles() if name != first_model]
    if others:
        app.session_state["model"] = others[0]
        app.run()
        assert not app.exception
        assert app.session_state["result_key"][0] == others[0]
        assert len(ranked_table(app)) == 7


def test_comparison_page_draws_charts_from_the_bundles(app):
    app.switch_page("app_pages/compare.py").run()
    assert not app.exception
    charts = app.get("plotly_chart")
    assert len(charts) >= 5
    models = set(app.dataframe[0].value["model"])
    assert models == {b for b in bundles.list_bundles() if bundles.open_bundle(b).metrics}


def test_about_page_has_a_model_card_per_bundle(app):
    app.switch_page("app_pages/about.py").run()
    assert not app.exception
    assert {e.label for e in app.expander} == set(bundles.list_bundles())
    assert any("HAM10000" in m.value for m in app.markdown)


def test_a_non_skin_photo_is_refused_unless_the_doctor_overrides(app):
    from test_gate import landscape

    buffer = io.BytesIO()
    Image.fromarray(landscape()).save(buffer, format="PNG")
    analyse(app, buffer.getvalue(), name="garden.png")
    assert any("does not look like a dermoscopic photo" in w.value for w in app.warning)
    assert not app.dataframe and not app.get("download_button")  # no ranked table, no report
    assert not any("Possible malignancy" in e.value for e in app.error)
    next(b for b in app.button if b.label.startswith("Analyse anyway")).click().run()
    assert not app.exception
    assert any("Outside the model's validated use" in e.value for e in app.error)
    assert len(ranked_table(app)) == 7 and app.get("download_button")


def test_broken_bundles_are_named_and_the_others_keep_working(tmp_path, monkeypatch):
    source = REPO / "weights" / "mobilenetv3small"
    for name in ("working", "bad-config", "damaged-model"):
        shutil.copytree(source, tmp_path / name)
    (tmp_path / "bad-config" / bundles.CONFIG_FILE).write_text("{ not json", encoding="utf-8")
    model = tmp_path / "damaged-model" / bundles.MODEL_FILE
    model.write_bytes(model.read_bytes()[:1000])
    (tmp_path / bundles.DEFAULT_FILE).write_text("damaged-model\n", encoding="utf-8")
    monkeypatch.setenv("SKIN_WEIGHTS_DIR", str(tmp_path))
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=180)
    at.run()
    assert not at.exception
    assert at.selectbox(key="model").options == ["damaged-model (default)", "working"]
    assert any("bad-config" in w.value and "config.json" in w.value for w in at.sidebar.warning)
    # the damaged model file is found when the model is loaded: a message, no trace, another model works
    analyse(at, (EXAMPLES / "mel.jpg").read_bytes())
    assert any("damaged-model" in e.value and "model.keras" in e.value for e in at.error)
    at.selectbox(key="model").set_value("working").run()
    assert not at.exception and len(ranked_table(at)) == 7
    for page in ("app_pages/compare.py", "app_pages/about.py"):
        at.switch_page(page).run()
        assert not at.exception
