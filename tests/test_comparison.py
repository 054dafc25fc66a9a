"""The comparison page as a reader sees it, against the bundles in weights/: released models by default and
research ones on request, each model under its own readable name, one bar per bundle, every heat-map row
named, and the other cameras' figures beside HAM10000's exactly as recorded, never invented."""

import dataclasses
import json
import math
from collections import Counter
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from skin_core import bundle as bundles
from ui import comparison
from ui.i18n import model_label

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def evaluated():
    found = bundles.evaluated_bundles()
    if not found:
        pytest.fail("weights/ holds no bundle with a metrics report")
    return found


@pytest.fixture(scope="module")
def labels(evaluated):
    return comparison.model_labels(evaluated)


def one_line(text: str) -> str:
    """A name as drawn, without the line breaks and spaces that wrapping adds or moves."""
    return text.replace("<br>", "").replace(" ", "")


def test_every_model_has_a_readable_name_of_its_own(evaluated, labels):
    assert len(set(labels.values())) == len(evaluated)
    readable = {b.name: model_label(b.name, b.config.display_name) for b in evaluated}
    assert all(labels[name].startswith(label) for name, label in readable.items())
    shared = Counter(readable.values())
    unique = [name for name, label in readable.items() if shared[label] == 1 and label != name]
    assert unique and all(labels[name] == readable[name] for name in unique)  # no folder name needed


def test_the_ablation_chart_gives_every_bundle_its_own_named_bar(evaluated, labels):
    """Three full MobileNetV3Small models once stacked into one bar reaching past 1.0."""
    family = [b for b in evaluated if b.config.backbone == "MobileNetV3Small"]
    assert sum(b.config.variant == "full_model" for b in family) >= 2
    figure = comparison.ablation_figure(comparison.summary_frame(evaluated, labels))
    assert figure.layout.barmode != "stack" and all(trace.texttemplate for trace in figure.data)  # values on bars
    by_label = {labels[b.name]: b for b in family}
    panels = {trace.yaxis for trace in figure.data}
    metrics = set()
    for panel in panels:
        bars = [(y, x) for trace in figure.data if trace.yaxis == panel for y, x in zip(trace.y, trace.x)]
        assert sorted(y for y, _ in bars) == sorted(by_label)  # each bundle once, under its own name
        [metric] = [m for m in comparison.ABLATION_METRICS if all(x == by_label[y].metrics[m] for y, x in bars)]
        metrics.add(metric)
    assert metrics == set(comparison.ABLATION_METRICS)
    assert figure.layout.xaxis.range[1] >= max(x for trace in figure.data for x in trace.x)


def test_the_heat_map_names_every_row(evaluated, labels):
    shown = comparison.shown_bundles(evaluated, research=True)
    for metric in ("recall", "f1"):
        figure = comparison.per_class_figure(shown, labels, metric)
        axis = figure.layout.yaxis
        assert axis.tickmode == "array" and list(axis.tickvals) == list(range(len(shown)))
        assert [one_line(text) for text in axis.ticktext] == [one_line(labels[b.name]) for b in shown]
        assert figure.layout.height >= 25 * len(shown)  # room for every name


def test_every_model_in_the_speed_chart_has_its_own_colour(evaluated, labels):
    frame = comparison.summary_frame(evaluated, labels)
    figure = comparison.speed_figure(frame)
    assert len(figure.data) == frame["latency_ms"].notna().sum() > 10
    assert len({trace.marker.color for trace in figure.data}) == len(figure.data)


def test_other_cameras_figures_are_the_recorded_ones_and_blank_where_not_measured(evaluated):
    recorded = next(b for b in evaluated if {"isic2017_val", "ph2"} <= set(b.metrics.get("external", {})))
    unmeasured = dataclasses.replace(recorded, path=recorded.path.with_name("never-measured-elsewhere"), metrics={
        key: value for key, value in recorded.metrics.items() if key != "external"})
    pair = [recorded, unmeasured]
    frame = comparison.summary_frame(pair, comparison.model_labels(pair))
    sets = comparison.external_sets(pair)
    assert sets == ["isic2017_val", "ph2", "isic2017_test"]
    report = json.loads((recorded.path / bundles.METRICS_FILE).read_text(encoding="utf-8"))
    assert frame.loc[0, "validation_balanced_accuracy"] == report["validation"]["balanced_accuracy"]
    assert frame.loc[0, "balanced_accuracy"] == report["balanced_accuracy"]
    for name in sets:
        external = report["external"][name]
        present = [figures["recall"] for figures in external["per_class"].values() if not figures["absent"]]
        assert frame.loc[0, f"{name}_balanced_accuracy"] == external["balanced_accuracy"]
        assert external["balanced_accuracy"] == pytest.approx(sum(present) / len(present), abs=1e-5)
        assert frame.loc[0, f"{name}_mel_recall"] == external["per_class"]["mel"]["recall"]
        assert math.isnan(frame.loc[1, f"{name}_balanced_accuracy"]) and math.isnan(frame.loc[1, f"{name}_mel_recall"])
    table = comparison.summary_table(frame, sets)
    headings = list(table.data.columns)
    assert "ISIC 2017 validation (tuning): melanoma recall" in headings and "PH2 (tuning): melanoma recall" in headings
    assert "ISIC 2017 test (report only): balanced accuracy over the classes present" in headings
    shown_rows = table.to_string(delimiter="\t").splitlines()
    blank = next(row.split("\t") for row in shown_rows if "never-measured-elsewhere" in row)
    columns = shown_rows[0].split("\t")
    assert {blank[columns.index(comparison.external_heading(name, figure))] for name in sets
            for figure in ("balanced_accuracy", "mel_recall")} == {"—"}


def test_each_input_check_s_rates_on_other_cameras_are_the_recorded_ones(evaluated, labels):
    gated = [b for b in evaluated if b.metrics.get("gate")]
    frame = comparison.gate_frame(gated, labels)
    for row, bundle in zip(frame.to_dict("records"), gated):
        for name in comparison.EXTERNAL_ROLES:
            external = bundle.metrics.get("external", {}).get(name, {})
            recorded = bundle.metrics["gate"]["in_distribution"].get(name, external.get("gate"))
            shown = row[comparison.external_heading(name, "flagged")]
            assert shown == (recorded["flagged"] if recorded else None) or (recorded is None and math.isnan(shown))
        internal = bundle.metrics["gate"]["in_distribution"]["internal_test"]
        assert row["Internal test (dermoscopic)"] == internal["flagged"]
    assert frame[comparison.external_heading("ph2", "flagged")].notna().any()


def test_the_page_shows_released_models_and_research_ones_on_request(evaluated, labels):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=180)
    at.run()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert at.dataframe[0].proto.placeholder == "—"  # what a browser shows where nothing was measured
    released = bundles.read_catalogue().released
    assert set(table["Model"]) == {labels[b.name] for b in evaluated if b.name in released}
    assert any("turn on" in info.value for info in at.info)  # the ablations are research models
    by_label = {labels[b.name]: b for b in evaluated}
    for _, row in table.iterrows():  # every external figure on the page is the bundle's own, or blank
        external = by_label[row["Model"]].metrics.get("external", {})
        for name in comparison.EXTERNAL_ROLES:
            shown = row.get(comparison.external_heading(name, "balanced_accuracy"))
            if name in external:
                assert shown == external[name]["balanced_accuracy"]
            elif shown is not None:
                assert math.isnan(shown)
    charts = len(at.get("plotly_chart"))

    at.toggle(key="compare_research").set_value(True).run()
    assert not at.exception
    assert set(at.dataframe[0].value["Model"]) == set(labels.values())
    assert len(at.get("plotly_chart")) == charts + 1  # the ablation chart
    research = next(b.name for b in evaluated if not b.config.clinical)
    at.selectbox(key="compare_model").set_value(research).run()
    at.toggle(key="compare_research").set_value(False).run()  # the inspected model is hidden again
    assert not at.exception and at.selectbox(key="compare_model").value in released


@pytest.mark.parametrize("language", ["en", "vi"])
def test_the_confusion_matrix_names_diagnoses_and_counts_in_the_page_s_language(language):
    from skin_core.classes import CLASS_CODES
    from ui.i18n import short_diagnosis_name

    matrix = [[1200 if row == column else row for column in range(7)] for row in range(7)]
    figure = comparison.confusion_figure(matrix, language)
    names = [short_diagnosis_name(code, language) for code in CLASS_CODES]
    assert [one_line(x) for x in figure.data[0].x] == [one_line(n) for n in names]
    assert [one_line(y) for y in figure.data[0].y] == [one_line(n) for n in names]
    assert all(len(line) <= comparison.LABEL_WIDTH for name in figure.data[0].x for line in name.split("<br>"))
    colour_bar = figure.layout.coloraxis.colorbar
    assert colour_bar.tickformat == ",d" and colour_bar.dtick >= 1  # whole photos: ticks never at 0.5
    few = [[int(row == column) for column in range(7)] for row in range(7)]  # a clinic's first cases
    assert comparison.confusion_figure(few, language).layout.coloraxis.colorbar.dtick == 1
    assert figure.layout.separators == {"en": ".,", "vi": ",."}[language]  # 1.200 in Vietnamese, 1,200 in English
