"""The typed bundle contract: config.json is validated on opening, and a broken bundle names itself and
the field at fault without hiding the other bundles."""

import json
import shutil

import pytest

from skin_core import bundle as bundles
from skin_core import paths
from skin_core.backbones import get_backbone
from skin_core.bundle import BundleConfig, InvalidBundleError

REFERENCE = paths.REPO_DIR / "weights" / "mobilenetv3small"


# How a malignancy threshold was chosen (valid for any threshold: the photos as they are gave 0.99).
OPERATING_POINT = {"target_sensitivity": 0.9, "confidence": 0.95, "exposure_margin": True, "threshold_as_is": 0.99,
                   "date": "2026-11-27"}


def reference_config() -> dict:
    return json.loads((REFERENCE / bundles.CONFIG_FILE).read_text(encoding="utf-8"))


def test_a_config_survives_the_round_trip_through_json():
    config = BundleConfig.from_dict(reference_config(), "reference")
    again = BundleConfig.from_dict(json.loads(json.dumps(config.to_dict())), "reference")
    assert again == config and config.input_size == (150, 200) and config.variant == "full_model"
    with_point = BundleConfig.from_dict({**reference_config(), "operating_point": OPERATING_POINT}, "reference")
    assert with_point.operating_point == bundles.OperatingPoint(**OPERATING_POINT)
    assert BundleConfig.from_dict(with_point.to_dict(), "reference") == with_point


def _set(path: str, value):
    def change(raw):
        *parents, leaf = path.split(".")
        target = raw
        for key in parents:
            target = target[key]
        if value is KeyError:
            del target[leaf]
        else:
            target[leaf] = value
    return change


@pytest.mark.parametrize("field_name, change", [
    ("class_codes", _set("class_codes", ["bcc", "akiec", "bkl", "df", "mel", "nv", "vasc"])),
    ("metadata_vocabulary", _set("metadata_vocabulary.site", ["back", "unknown", "elbow"])),
    ("input_size", _set("input_size", [0, 200])),
    ("input_size", _set("input_size", "150x200")),
    ("temperature", _set("temperature", -1.0)),
    ("temperature", _set("temperature", "warm")),
    ("malignancy_threshold", _set("malignancy_threshold", 1.5)),
    ("malignancy_threshold", _set("malignancy_threshold", 0)),
    ("schema_version", _set("schema_version", 1)),
    ("backbone", _set("backbone", "VGG16")),
    ("age_normalisation", _set("age_normalisation.std", 0)),
    ("low_confidence.min_margin", _set("low_confidence.min_margin", 3)),
    ("temperature", _set("temperature", KeyError)),
    ("model_card.limits", _set("model_card.limits", {"vi": "chỉ tiếng Việt"})),
    ("colour", _set("colour", "blue")),
    ("operating_point.threshold_as_is", _set("operating_point", OPERATING_POINT | {"threshold_as_is": 0.01})),
    ("operating_point.target_sensitivity", _set("operating_point", OPERATING_POINT | {"target_sensitivity": 90})),
    ("operating_point.confidence", _set("operating_point", OPERATING_POINT | {"confidence": 1.0})),
    ("operating_point.exposure_margin", _set("operating_point", OPERATING_POINT | {"exposure_margin": "yes"})),
    ("operating_point.threshold", _set("operating_point", OPERATING_POINT | {"threshold": 0.3})),
])
def test_an_invalid_config_names_the_bundle_and_the_field(field_name, change):
    raw = reference_config()
    change(raw)
    with pytest.raises(InvalidBundleError) as caught:
        BundleConfig.from_dict(raw, "clinic-model")
    assert caught.value.bundle == "clinic-model" and caught.value.field == field_name
    assert "clinic-model" in str(caught.value) and field_name in str(caught.value)


def copy_bundle(weights_dir, name):
    shutil.copytree(REFERENCE, weights_dir / name)
    return weights_dir / name


def test_malformed_json_and_a_damaged_model_file_are_bundle_errors(tmp_path):
    bad_json = copy_bundle(tmp_path, "bad-json")
    (bad_json / bundles.CONFIG_FILE).write_text('{"name": "bad-json", ', encoding="utf-8")
    with pytest.raises(InvalidBundleError, match="bad-json.*config.json"):
        bundles.open_bundle(bad_json)
    bad_metrics = copy_bundle(tmp_path, "bad-metrics")
    (bad_metrics / bundles.METRICS_FILE).write_text("[1, 2", encoding="utf-8")
    with pytest.raises(InvalidBundleError, match="metrics.json"):
        bundles.open_bundle(bad_metrics)
    truncated = copy_bundle(tmp_path, "truncated")
    model = truncated / bundles.MODEL_FILE
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    with pytest.raises(InvalidBundleError, match="truncated.*model.keras"):
        bundles.open_bundle(truncated).load_model()


def test_scan_keeps_the_usable_bundles_and_says_why_the_others_are_broken(tmp_path):
    copy_bundle(tmp_path, "good")
    reordered = copy_bundle(tmp_path, "reordered")
    raw = reference_config()
    raw["class_codes"] = list(reversed(raw["class_codes"]))
    (reordered / bundles.CONFIG_FILE).write_text(json.dumps(raw), encoding="utf-8")
    usable, broken = bundles.scan(tmp_path)
    assert [b.name for b in usable] == ["good"]
    assert set(broken) == {"reordered"} and "class_codes" in str(broken["reordered"])
    assert [b.name for b in bundles.evaluated_bundles(tmp_path)] == ["good"]


def test_weights_are_recognised_by_their_registry_entry_not_their_file_name(tmp_path):
    spec = get_backbone("MobileNetV2")
    renamed = tmp_path / "my_copy.h5"
    renamed.write_bytes(b"weights")
    resolved = spec.resolve_weights(str(renamed))
    assert resolved.path == renamed and resolved.entry is spec.shared_weights
    assert resolved.entry.preprocessing == "torch" and resolved.entry.batchnorm_epsilon == 1e-5
    assert spec.resolve_weights("imagenet").entry.preprocessing == spec.preprocessing == "tf"
    assert spec.resolve_weights("imagenet").download and spec.resolve_weights(None).entry is None
    with pytest.raises(FileNotFoundError, match="--weights imagenet"):
        get_backbone("DenseNet201").resolve_weights("shared")
    with pytest.raises(FileNotFoundError, match="not found"):
        spec.resolve_weights(str(tmp_path / "absent.h5"))


def test_a_report_that_lacks_a_figure_makes_the_bundle_unusable_when_opened_not_on_a_page(tmp_path):
    folder = copy_bundle(tmp_path, "no-figure")
    metrics = json.loads((folder / bundles.METRICS_FILE).read_text(encoding="utf-8"))
    del metrics["external"]["isic2017_test"]["balanced_accuracy"]
    (folder / bundles.METRICS_FILE).write_text(json.dumps(metrics), encoding="utf-8")
    with pytest.raises(InvalidBundleError, match="no-figure.*external.isic2017_test.balanced_accuracy is missing"):
        bundles.open_bundle(folder)
    assert set(bundles.scan(tmp_path)[1]) == {"no-figure"}
    report = bundles.open_bundle(REFERENCE).report  # read by field, the same figures as the JSON
    assert report.test.balanced_accuracy == json.loads((REFERENCE / bundles.METRICS_FILE).read_text())["balanced_accuracy"]
    assert report.test.per_class["mel"].support > 0 and report.external["isic2017_test"].n == 600
