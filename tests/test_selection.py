"""The rule that chooses the default weighs HAM10000 validation and the tuning sets from other cameras."""

import json
import shutil
from dataclasses import asdict, replace

import pytest

from skin_core import bundle as bundles
from skin_core import paths
from skin_core.classes import CLASS_CODES
from skin_core.reports import read_set_report
from skin_core.research.selection import (LATENCY_BUDGET_MS, TIE_MARGIN, Candidate, candidate, choose, main, ranking,
                                 tuning_figures)


def tuning_report(balanced_accuracy: float, melanomas: int, found: int) -> dict:
    """An external report as evaluate writes it; only balanced accuracy and melanomas matter to the rule."""
    figures = {"precision": 0.5, "recall": 0.5, "f1": 0.5, "specificity": 0.5, "auc": 0.5, "support": 10}
    per_class = {code: dict(figures) for code in CLASS_CODES}
    per_class["mel"] = {**figures, "support": melanomas, "recall": found / melanomas if melanomas else None}
    return {"n": 100, "accuracy": 0.5, "balanced_accuracy": balanced_accuracy, "macro_auc": 0.5, "macro_f1": 0.5,
            "per_class": per_class, "malignant": {"auc": 0.5, "sensitivity": 0.9, "specificity": 0.5}, "ece": 0.05}


def test_tuning_figures_average_the_sets_and_pool_the_melanomas():
    external = {"isic2017_val": tuning_report(0.70, 30, 18), "ph2": tuning_report(0.60, 40, 28),
                "isic2017_test": tuning_report(0.99, 117, 117)}
    balanced, recall, count = tuning_figures({name: read_set_report(raw) for name, raw in external.items()})
    assert balanced == pytest.approx(0.65)  # isic2017_test, report only, plays no part
    assert (recall, count) == (pytest.approx(46 / 70), 70)
    assert tuning_figures({"ph2": read_set_report(tuning_report(0.6, 40, 28))}) == (None, None, 0)


def figures(name, score, latency, excluded="") -> Candidate:
    return Candidate(name, name, score, score, score, 70, latency, 10.0, score, excluded)


def test_a_clear_winner_is_chosen_and_a_near_tie_goes_to_the_faster_model():
    clear = [figures("slow-strong", 0.70, 40.0), figures("fast-weak", 0.70 - 2 * TIE_MARGIN, 10.0)]
    assert choose(clear).name == "slow-strong"
    tied = [figures("slow-strong", 0.70, 40.0), figures("fast-close", 0.70 - TIE_MARGIN / 2, 10.0)]
    assert choose(tied).name == "fast-close"
    excluded = [figures("research", 0.9, 5.0, "research bundle"), figures("clinical", 0.6, 30.0)]
    assert choose(excluded).name == "clinical"
    with pytest.raises(ValueError, match="evaluate --record-external"):
        choose([figures("research", 0.9, 5.0, "research bundle")])


@pytest.fixture
def measured_bundle(tiny_bundle, tmp_path):
    """The tiny bundle as a clinical one with tuning-set figures and a benchmark, in its own weights folder."""
    folder = tmp_path / "weights" / "tiny"
    shutil.copytree(tiny_bundle, folder)
    opened = bundles.open_bundle(folder)
    (folder / bundles.CONFIG_FILE).unlink()  # released anew as a clinical bundle
    bundles.write_config(folder, replace(opened.config, intended_use="clinical"))
    bundles.write_report(opened, bundles.BENCHMARK_REPORT, asdict(BENCHMARK))
    for name, report in (("isic2017_val", tuning_report(0.6, 30, 15)), ("ph2", tuning_report(0.5, 40, 30))):
        bundles.write_report(opened, bundles.EXTERNAL_REPORT.format(name), report)
    return folder


BENCHMARK = bundles.Benchmark(1, 1.0, 1.0, 20.0, 25.0, 15.0, 50.0, 5, {"cpu_count": 2}, "2026-12-05")


def test_a_bundle_is_scored_on_validation_and_tuning_sets_and_excluded_when_over_budget(measured_bundle):
    opened = bundles.open_bundle(measured_bundle)
    scored = candidate(opened)
    ham = opened.report.validation.balanced_accuracy
    assert scored.excluded == "" and scored.score == pytest.approx((ham + 0.55 + 45 / 70) / 3, abs=1e-4)
    bundles.write_report(opened, bundles.BENCHMARK_REPORT,
                         asdict(replace(BENCHMARK, latency_ms_median=LATENCY_BUDGET_MS["single"] + 1)))
    assert "budget" in candidate(bundles.open_bundle(measured_bundle)).excluded
    research = replace(opened.config, intended_use="research")
    assert candidate(replace(opened, config=research)).excluded == "research bundle"
    unmeasured = replace(opened, metrics={k: v for k, v in opened.metrics.items() if k != "external"})
    assert candidate(unmeasured).excluded.startswith("not measured") and candidate(unmeasured).score is None


def test_set_default_writes_the_rules_pick(measured_bundle, capsys):
    weights = measured_bundle.parent
    assert main(["--weights", str(weights), "--set-default", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["chosen"] == "tiny"
    catalogue = bundles.read_catalogue(weights)
    assert (catalogue.default, catalogue.released, set(catalogue.names["tiny"])) == ("tiny", ("tiny",), {"en", "vi"})


def test_the_shipped_default_is_the_rules_pick_among_the_committed_bundles():
    weights = paths.REPO_DIR / "weights"
    committed = ranking(weights)
    clinical = [c.name for c in committed if c.excluded != "research bundle"]
    assert [c.name for c in committed if c.excluded.startswith("not measured") and c.name in clinical] == []
    assert bundles.default_bundle_name(weights) == choose(committed).name
