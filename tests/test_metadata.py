import numpy as np
import pandas as pd
import pytest

from skin_core import metadata as meta


def test_known_values_encode_to_standardised_age_and_one_hots():
    encoder = meta.MetadataEncoder(age_mean=50.0, age_std=10.0)
    vector = encoder.encode(65, "Female", "lower extremity")
    assert vector.shape == (meta.METADATA_DIM,)
    assert vector[meta.AGE_FIELD].tolist() == [1.5, 0.0]
    assert vector[meta.SEX_FIELD].tolist() == [0.0, 1.0, 0.0]
    assert vector[meta.SITE_FIELD][meta.SITES.index("lower extremity")] == 1.0
    assert vector[meta.SITE_FIELD].sum() == 1.0


@pytest.mark.parametrize("empty", [None, "", "  ", "unknown", "UNKNOWN", float("nan")])
def test_missing_values_are_unknown_not_errors(empty):
    vector = meta.MetadataEncoder(50.0, 10.0).encode(empty, empty, empty)
    np.testing.assert_array_equal(vector, meta.unknown_vector())
    assert vector[meta.AGE_FIELD].tolist() == [0.0, 1.0]
    assert vector[meta.SEX_FIELD][meta.SEXES.index("unknown")] == 1.0
    assert vector[meta.SITE_FIELD][meta.SITES.index("unknown")] == 1.0


@pytest.mark.parametrize("age", [-3, 400, "forty", 120.5])
def test_impossible_age_is_rejected_with_a_clear_message(age):
    with pytest.raises(meta.InvalidMetadataError, match="Age"):
        meta.MetadataEncoder(50.0, 10.0).encode(age=age)


def test_unknown_site_or_sex_word_is_rejected_and_names_the_choices():
    with pytest.raises(meta.InvalidMetadataError, match="lower extremity"):
        meta.clean_site("left knee")
    with pytest.raises(meta.InvalidMetadataError, match="male"):
        meta.clean_sex("x")


def test_age_statistics_come_from_known_training_ages_only():
    encoder = meta.MetadataEncoder.fit([30, None, 50, "", float("nan"), 70])
    assert encoder.age_mean == pytest.approx(50.0)
    assert encoder.age_std == pytest.approx(np.std([30, 50, 70]))


def test_frame_encoding_treats_absent_columns_as_unknown():
    frame = pd.DataFrame({"age": [40.0, None], "sex": ["male", None]})
    encoded = meta.MetadataEncoder(40.0, 10.0).encode_frame(frame)
    assert encoded.shape == (2, meta.METADATA_DIM)
    assert encoded[:, meta.SITE_FIELD][:, meta.SITES.index("unknown")].tolist() == [1.0, 1.0]
    assert encoded[1, meta.AGE_FIELD].tolist() == [0.0, 1.0]


@pytest.mark.parametrize("age", [True, False, "4_5", "٤٥", "45.", "1e2", [45], "4 5"])
def test_ages_that_only_look_like_numbers_are_rejected(age):
    with pytest.raises(meta.InvalidMetadataError, match="Age"):
        meta.clean_age(age)


@pytest.mark.parametrize("text, years", [("45", 45.0), (" 45.5 ", 45.5), ("45,5", 45.5), (np.int64(7), 7.0)])
def test_plain_numbers_are_read_as_years(text, years):
    assert meta.clean_age(text) == years


def test_a_huge_value_is_not_echoed_back_whole():
    huge = "x" * 1_000_000
    for clean in (meta.clean_age, meta.clean_site, meta.clean_sex):
        with pytest.raises(meta.InvalidMetadataError) as caught:
            clean(huge)
        assert len(str(caught.value)) < 400


def test_details_encoded_on_one_age_scale_read_the_same_on_another():
    source, target = meta.MetadataEncoder(52.0, 16.0), meta.MetadataEncoder(40.0, 20.0)
    rows = [(70, "male", "back"), (None, "female", "face"), (0, None, None), (85, "male", None)]
    recoded = target.recoded(np.stack([source.encode(*row) for row in rows]), source)
    np.testing.assert_allclose(recoded, np.stack([target.encode(*row) for row in rows]), atol=1e-5)
