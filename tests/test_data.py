import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import require_shared
from skin_core import metadata as meta
from skin_core.research.data import labels_of, lesion_split, make_dataset, read_dataset
from skin_core.imaging import load_images
from skin_core.layers import MetadataDropout


def test_reads_any_format_and_size(tiny_dataset, tmp_path):
    frame = read_dataset(tiny_dataset)
    assert len(frame) == 7 * 3 * 2 and set(frame["dx"]) == {"akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"}
    # A folder with PNG and BMP files of other sizes and a CSV with only image_id and dx also works.
    (tmp_path / "images").mkdir()
    Image.new("RGB", (300, 200), (10, 20, 30)).save(tmp_path / "images" / "a.png")
    Image.new("RGB", (50, 90), (200, 20, 30)).save(tmp_path / "images" / "b.bmp")
    pd.DataFrame({"image_id": ["a", "b"], "dx": ["mel", "NV"]}).to_csv(tmp_path / "labels.csv", index=False)
    minimal = read_dataset(tmp_path)
    assert minimal["lesion_id"].tolist() == ["a", "b"] and minimal["dx"].tolist() == ["mel", "nv"]
    assert load_images(minimal["path"], (64, 80)).shape == (2, 64, 80, 3)


def test_unknown_diagnosis_in_csv_is_a_clear_error(tmp_path):
    (tmp_path / "images").mkdir()
    pd.DataFrame({"image_id": ["a"], "dx": ["wart"]}).to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(ValueError, match="wart"):
        read_dataset(tmp_path)


def _check_split(frame, split):
    sides_per_lesion = pd.DataFrame({"lesion": frame["lesion_id"], "side": split}).groupby("lesion")["side"]
    assert sides_per_lesion.nunique().max() == 1, "a lesion appears on two sides"


def test_split_keeps_lesions_together_and_is_seeded(tiny_dataset):
    frame = read_dataset(tiny_dataset)
    split = lesion_split(frame, seed=4)
    _check_split(frame, split)
    assert split.equals(lesion_split(frame, seed=4))
    for dx in frame["dx"].unique():  # three lesions per class: one on each side
        assert sorted(split[frame["dx"] == dx].unique()) == ["test", "train", "val"]


def test_split_of_real_ham10000_is_grouped_stratified_and_70_15_15():
    csv = require_shared("data/ham10000/HAM10000_metadata.csv")
    frame = pd.read_csv(csv)
    split = lesion_split(frame, seed=0)
    _check_split(frame, split)
    shares = split.value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.70, abs=0.02)
    assert shares["val"] == pytest.approx(0.15, abs=0.02) and shares["test"] == pytest.approx(0.15, abs=0.02)
    overall = frame["dx"].value_counts(normalize=True)
    for side in ("train", "val", "test"):
        per_class = frame.loc[split == side, "dx"].value_counts(normalize=True)
        np.testing.assert_allclose(per_class[overall.index], overall, atol=0.02)
    assert not split.equals(lesion_split(frame, seed=1))


def test_training_dataset_batches_images_metadata_and_one_hot_labels(tiny_dataset):
    frame = read_dataset(tiny_dataset)
    images = load_images(frame["path"], (40, 40))
    metadata = meta.MetadataEncoder(50, 10).encode_frame(frame)
    features, labels = next(iter(make_dataset(images, metadata, labels_of(frame), batch_size=8, training=True,
                                              seed=0)))
    assert features["image"].shape == (8, 40, 40, 3) and features["image"].dtype == "uint8"  # cast on the device
    assert features["metadata"].shape == (8, meta.METADATA_DIM)
    np.testing.assert_array_equal(labels.numpy().sum(axis=1), 1.0)


def test_metadata_dropout_replaces_each_field_independently_at_the_set_rate():
    encoder = meta.MetadataEncoder(50, 10)
    known = np.repeat(encoder.encode(60, "male", "back")[None], 20000, axis=0)
    layer = MetadataDropout(0.1, [(f.start, f.stop) for f in meta.FIELDS], meta.unknown_vector(), seed=3)
    out = keras.ops.convert_to_numpy(layer(known, training=True))
    unknown = meta.unknown_vector()
    dropped = np.stack([np.all(out[:, f] == unknown[f], axis=1) for f in meta.FIELDS], axis=1)
    np.testing.assert_allclose(dropped.mean(axis=0), 0.1, atol=0.01)
    assert dropped.all(axis=1).mean() == pytest.approx(0.001, abs=0.001)  # independent: 0.1 ** 3
    kept = ~dropped
    for index, field in enumerate(meta.FIELDS):
        np.testing.assert_array_equal(out[kept[:, index]][:, field], known[kept[:, index]][:, field])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(known, training=False)), known)


def test_backend_neutral_batches_cover_each_photo_once_per_epoch_in_full_batches(tiny_dataset):
    from skin_core.research.data import ArrayBatches

    frame = read_dataset(tiny_dataset)
    images = load_images(frame["path"], (40, 40))
    metadata = meta.MetadataEncoder(50, 10).encode_frame(frame)
    labels = labels_of(frame)
    batches = ArrayBatches(images, metadata, labels, batch_size=8, training=True, seed=0)
    assert len(batches) == len(labels) // 8  # training: full batches only, one compiled step shape
    seen = []
    for index in range(len(batches)):
        features, one_hot = batches[index]
        assert features["image"].dtype == np.uint8 and features["image"].shape == (8, 40, 40, 3)
        np.testing.assert_array_equal(one_hot.sum(axis=1), 1.0)
        seen.extend(one_hot.argmax(axis=1))
    assert len(seen) == len(labels) // 8 * 8
    evaluation = ArrayBatches(images, metadata, labels, batch_size=8)
    assert sum(len(evaluation[i][1]) for i in range(len(evaluation))) == len(labels)  # evaluation: every photo
    assert len(ArrayBatches(images, metadata, labels, batch_size=8, training=True, max_steps=2)) == 2
    first_order = batches.order.copy()
    batches.on_epoch_end()
    assert not np.array_equal(first_order, batches.order)


def _labelled_folder(folder, rows):
    (folder / "images").mkdir(parents=True)
    for row in rows:
        Image.new("RGB", (64, 48), (120, 80, 60)).save(folder / "images" / f"{row['image_id']}.jpg")
    pd.DataFrame(rows).to_csv(folder / "labels.csv", index=False)
    return folder


@pytest.mark.parametrize("bad, expected", [
    ({"dx": "melanoma"}, r"line 3 \(image b\): diagnosis 'melanoma' is not one of"),
    ({"localization": "left knee"}, r"line 3 \(image b\).*anatomical site 'left knee'.*leave it empty"),
    ({"age": "4_5"}, r"line 3 \(image b\).*Age"),
])
def test_a_bad_row_is_named_with_its_line_and_value(tmp_path, bad, expected):
    rows = [{"image_id": "a", "dx": "nv", "age": 40, "localization": "back"},
            {"image_id": "b", "dx": "mel", "age": 50, "localization": "face", **bad}]
    folder = _labelled_folder(tmp_path / "data", rows)
    with pytest.raises(ValueError, match=expected):
        read_dataset(folder)


def test_a_missing_column_or_image_names_what_is_missing(tmp_path):
    folder = _labelled_folder(tmp_path / "data", [{"image_id": "a", "dx": "nv"}])
    pd.DataFrame({"image_id": ["a"], "diagnosis": ["nv"]}).to_csv(folder / "labels.csv", index=False)
    with pytest.raises(ValueError, match="lacks the column.*dx"):
        read_dataset(folder)
    pd.DataFrame({"image_id": ["a", "ghost"], "dx": ["nv", "mel"]}).to_csv(folder / "labels.csv", index=False)
    with pytest.raises(FileNotFoundError, match="ghost"):
        read_dataset(folder)
