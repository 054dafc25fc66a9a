"""HAM10000-format folders, the lesion-grouped split and the tf.data training pipeline.

A folder holds a metadata CSV (``image_id, dx`` and optionally ``lesion_id, age, sex, localization``) and
``images/<image_id>.<ext>`` in any common format and size.
"""

from pathlib import Path

import keras
import numpy as np
import pandas as pd

from skin_core.classes import CLASS_CODES
from skin_core.metadata import InvalidMetadataError, clean_age, clean_sex, clean_site, shown
from skin_core.model import IMAGE_INPUT, METADATA_INPUT

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
SPLITS = ("train", "val", "test")


def find_labels_csv(folder: Path) -> Path:
    """The folder's metadata CSV: HAM10000_metadata.csv, labels.csv or the only CSV there."""
    for name in ("HAM10000_metadata.csv", "labels.csv", "metadata.csv"):
        if (folder / name).is_file():
            return folder / name
    candidates = sorted(folder.glob("*.csv"))
    if len(candidates) != 1:
        raise FileNotFoundError(f"No single metadata CSV in {folder}; pass the labels file explicitly.")
    return candidates[0]


def read_dataset(folder, labels_csv=None) -> pd.DataFrame:
    """One row per labelled image: image_id, lesion_id, dx, age, sex, localization, path.

    A missing lesion_id makes each image its own lesion; missing metadata columns mean unknown. A value that
    cannot be right (an unknown diagnosis, site or sex word, an impossible age) stops here, naming the row.
    """
    folder = Path(folder)
    labels_csv = Path(labels_csv) if labels_csv else find_labels_csv(folder)
    frame = pd.read_csv(labels_csv, dtype={"image_id": str, "lesion_id": str, "dx": str})
    missing = {"image_id", "dx"} - set(frame.columns)
    if missing:
        raise ValueError(f"{labels_csv} lacks the column(s) {', '.join(sorted(missing))}; a labels CSV needs at "
                         f"least image_id and dx.")
    frame["dx"] = frame["dx"].str.strip().str.lower()
    unknown_dx = ~frame["dx"].isin(CLASS_CODES)
    if unknown_dx.any():
        first = int(unknown_dx.to_numpy().argmax())
        raise ValueError(f"{labels_csv}, line {first + 2} (image {frame['image_id'][first]}): diagnosis "
                         f"{shown(frame['dx'][first])} is not one of {', '.join(CLASS_CODES)} ({int(unknown_dx.sum())} "
                         f"row(s) in all). Correct the label or remove the row.")
    if "lesion_id" not in frame or frame["lesion_id"].isna().all():
        frame["lesion_id"] = frame["image_id"]
    frame["lesion_id"] = frame["lesion_id"].fillna(frame["image_id"])
    for column in ("age", "sex", "localization"):
        if column not in frame:
            frame[column] = None
    for row in frame.itertuples():
        try:
            clean_age(row.age), clean_sex(row.sex), clean_site(row.localization)
        except InvalidMetadataError as error:
            raise InvalidMetadataError(f"{labels_csv}, line {row.Index + 2} (image {row.image_id}): {error} "
                                       f"Correct the value or leave it empty.") from None
    frame["path"] = [str(_image_path(folder / "images", image_id)) for image_id in frame["image_id"]]
    return frame[["image_id", "lesion_id", "dx", "age", "sex", "localization", "path"]].reset_index(drop=True)


def _image_path(images_dir: Path, image_id: str) -> Path:
    for extension in IMAGE_EXTENSIONS:
        for candidate in (images_dir / f"{image_id}{extension}", images_dir / f"{image_id}{extension.upper()}"):
            if candidate.is_file():
                return candidate
    raise FileNotFoundError(f"No image file for {image_id} in {images_dir}.")


def labels_of(frame: pd.DataFrame) -> np.ndarray:
    return np.array([CLASS_CODES.index(dx) for dx in frame["dx"]], dtype=np.int64)


def lesion_split(frame: pd.DataFrame, fractions=(0.70, 0.15, 0.15), seed=0) -> pd.Series:
    """Assign every image to train / val / test, keeping each lesion on one side.

    Lesions are shuffled (seeded) within each diagnosis and cut so that each side gets its fraction of that
    diagnosis's images (stratification); classes with at least three lesions get one in each side.
    """
    rng = np.random.default_rng(seed)
    test_fraction, val_fraction = fractions[2], fractions[1]
    lesions = frame.groupby("lesion_id", sort=True).agg(dx=("dx", "first"), n=("image_id", "size"))
    side = {}
    for dx in sorted(lesions["dx"].unique()):
        group = lesions[lesions["dx"] == dx]
        order = group.index.to_numpy()[rng.permutation(len(group))]
        sizes = group.loc[order, "n"].to_numpy()
        images_before = (np.cumsum(sizes) - sizes) / sizes.sum()
        sides = np.where(images_before < test_fraction, "test",
                         np.where(images_before < test_fraction + val_fraction, "val", "train"))
        if len(group) >= 3:
            if "val" not in sides:
                sides[1] = "val"
            if "train" not in sides:
                sides[-1] = "train"
        side.update(zip(order, sides))
    return frame["lesion_id"].map(side).rename("split")


def make_dataset(images: np.ndarray, metadata: np.ndarray | None, labels: np.ndarray, *, batch_size=32,
                 training=False, seed=None, max_steps=None):
    """Batches of decoded uint8 images (shuffled for training), their metadata and one-hot labels.

    Batches stay uint8 until they reach the model, which casts them on its device (a quarter of the
    host-to-device traffic of float32); augmentation runs inside the training step (``skin_core.research.augmentation``).
    TensorFlow's tf.data feeds the TensorFlow backend; other backends get ``ArrayBatches``. ``max_steps`` caps
    the batches per epoch (quick checks).
    """
    if keras.backend.backend() != "tensorflow":
        return ArrayBatches(images, metadata, labels, batch_size=batch_size, training=training, seed=seed,
                            max_steps=max_steps)
    import tensorflow as tf

    one_hot = np.eye(len(CLASS_CODES), dtype=np.float32)[labels]
    dataset = tf.data.Dataset.from_tensor_slices((_features(images, metadata), one_hot))
    if training:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if max_steps:
        dataset = dataset.take(max_steps)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _features(images, metadata) -> dict:
    """The model's named inputs; an image-only model has no metadata input."""
    return {IMAGE_INPUT: images} if metadata is None else {IMAGE_INPUT: images, METADATA_INPUT: metadata}


class ArrayBatches(keras.utils.PyDataset):
    """Backend-neutral batches for JAX and PyTorch, filled by several worker threads.

    Training batches are reshuffled every epoch and all full-sized (the last partial batch is left out), so a
    compiled training step never sees a second batch shape and is never compiled twice.
    """

    def __init__(self, images, metadata, labels, batch_size=32, training=False, seed=None, max_steps=None,
                 workers=4):
        super().__init__(workers=workers, max_queue_size=2 * workers)
        self.images, self.metadata, self.batch_size, self.training = images, metadata, batch_size, training
        self.one_hot = np.eye(len(CLASS_CODES), dtype=np.float32)[labels]
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(labels)) if training else np.arange(len(labels))
        self.max_steps = max_steps

    def __len__(self):
        full, partial = divmod(len(self.order), self.batch_size)
        steps = full if self.training and full else full + (partial > 0)
        return min(steps, self.max_steps) if self.max_steps else steps

    def __getitem__(self, index):
        rows = np.sort(self.order[index * self.batch_size:(index + 1) * self.batch_size])
        return (_features(self.images[rows], None if self.metadata is None else self.metadata[rows]),
                self.one_hot[rows])

    def on_epoch_end(self):
        if self.training:
            self.order = self.rng.permutation(len(self.order))
