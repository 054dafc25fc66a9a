import numpy as np
import pytest
from PIL import Image

from skin_core import InvalidImageError, InvalidMetadataError, load_predictor
from skin_core.classes import CLASS_CODES, MALIGNANT_CODES


@pytest.fixture(scope="module")
def predictor(tiny_bundle):
    return load_predictor(tiny_bundle)


def photo(width=157, height=123, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (height, width, 3), np.uint8)


def test_ranked_result_and_attention_at_the_photo_size(predictor):
    for image in (photo(), Image.fromarray(photo(200, 150))):
        result = predictor.predict(image, age=None, sex=None, site=None)
        height, width = (123, 157) if isinstance(image, np.ndarray) else (150, 200)
        assert [code for code, _ in result.ranked] != [] and {c for c, _ in result.ranked} == set(CLASS_CODES)
        probabilities = [p for _, p in result.ranked]
        assert probabilities == sorted(probabilities, reverse=True)
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
        assert result.attention.shape == (height, width) and result.attention.dtype == np.float32
        assert 0.0 <= result.attention.min() and result.attention.max() <= 1.0
        assert result.attention_heads.shape[0] == 16


def test_paths_bytes_and_arrays_give_the_same_answer(predictor, tmp_path):
    path = tmp_path / "lesion.png"
    Image.fromarray(photo()).save(path)
    by_path = predictor.predict(path, age=60, sex="male", site="back").ranked
    by_bytes = predictor.predict(path.read_bytes(), age=60, sex="male", site="back").ranked
    by_array = predictor.predict(photo(), age=60, sex="male", site="back").ranked
    assert by_path == by_bytes
    np.testing.assert_allclose([p for _, p in by_path], [p for _, p in by_array], atol=1e-6)


def test_flip_averaging_still_sums_to_one(predictor):
    result = predictor.predict(photo(), tta=True)
    assert sum(p for _, p in result.ranked) == pytest.approx(1.0, abs=1e-5)
    assert result.attention.shape == (123, 157)


def test_malignant_probability_is_the_sum_of_the_three_malignant_classes(predictor):
    result = predictor.predict(photo())
    expected = sum(result.probabilities[c] for c in MALIGNANT_CODES)
    assert result.malignant_probability == pytest.approx(expected, abs=1e-6)
    assert result.malignancy_alert == (expected >= predictor.threshold)


@pytest.mark.parametrize("bad", [b"", b"GIF89a-broken", b"\x89PNG\r\n\x1a\n" + b"\0" * 20, np.zeros((1, 1, 3), np.uint8)])
def test_bad_images_raise_the_documented_error(predictor, bad):
    with pytest.raises(InvalidImageError):
        predictor.predict(bad)


def test_impossible_metadata_is_rejected(predictor):
    with pytest.raises(InvalidMetadataError):
        predictor.predict(photo(), age=400)
