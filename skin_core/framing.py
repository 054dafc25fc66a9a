"""Lesion framing: show the model the lesion at the scale it learnt from.

HAM10000's photos were cropped around the lesion (Tschandl et al. 2018): on its masks the lesion's bounding box
spans a median 50 % of the photo's width and 62 % of its height. Other dermatoscopes and archives (ISIC 2017,
a clinic's own camera) frame a wider field, with the lesion a fraction of the photo; shown from further away,
the models trained here lose most of their melanoma recall (``skin_core.research.robustness``, "farther"). A bundle with
``framing`` in its config.json first crops each photo around its lesion so that the lesion's box spans
``target`` of the crop, keeping the photo's aspect ratio, and only where the lesion is small: a photo whose
needed crop keeps at least ``apply_below`` of its side is left whole (78 % of HAM10000's validation photos,
56 % of ISIC 2017's test photos). The crop never goes below ``min_scale`` of the side, so a speck or a missed
lesion is not blown up. The three settings were chosen on HAM10000 validation photos, as they are and shown
from further away (``farther``), never on external photos.

    python -m skin_core ensemble --members efficientnetlite2-224 --name efficientnetlite2-224-framed --framing

builds a framed bundle of a trained model (a one-member ensemble: its own temperature, threshold and metrics,
measured on the framed validation and test photos).
"""

import functools
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

MIN_PART = 0.002  # darker specks smaller than this share of the photo are noise, not a lesion
SEARCH_SIDE = 128  # the lesion is found on a copy this many pixels on its longest side


class Box(NamedTuple):
    """A rectangle in a photo's pixels: rows top..bottom-1, columns left..right-1."""

    top: int
    left: int
    bottom: int
    right: int


@dataclass(frozen=True)
class Framing:
    """How a bundle frames photos before its model sees them (kept in config.json)."""

    target: float = 0.65  # the share of the crop's side the lesion's box should span
    apply_below: float = 0.7  # crop only when the crop's side would be under this share of the photo's
    min_scale: float = 0.3  # never crop below this share of the photo's side


@functools.lru_cache(maxsize=16)
def inscribed_ellipse(shape: tuple, scale: float = 1.0) -> np.ndarray:
    """Read-only boolean mask of the ellipse inscribed in an image of ``shape`` (height, width), its axes times
    ``scale``; cached, as every photo at a model's input size needs the same one."""
    height, width = shape[:2]
    rows, columns = np.mgrid[:height, :width]
    mask = (((columns + 0.5 - width / 2) / (width / 2)) ** 2
            + ((rows + 0.5 - height / 2) / (height / 2)) ** 2 <= scale ** 2)
    mask.setflags(write=False)
    return mask


def darker_component(grey: np.ndarray, central: bool = False):
    """The lesion as the darker-than-skin part (Otsu's threshold on the smoothed grey image) that lies nearest
    the centre, larger parts preferred: ``(x, y, width, height, area)`` in pixels, or None where no part
    stands out. With ``central`` the threshold and the parts come from the ellipse inscribed in the photo, so
    a dermatoscope's dark vignette or a ruler in a corner is never taken for the lesion."""
    smooth = cv2.GaussianBlur(grey, (5, 5), 0)
    height, width = grey.shape
    if central:
        inside = inscribed_ellipse(grey.shape)
        threshold, _ = cv2.threshold(smooth[inside].reshape(-1, 1), 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        darker = ((smooth <= threshold) & inside).astype(np.uint8)
    else:
        _, darker = cv2.threshold(smooth, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    count, _, stats, centres = cv2.connectedComponentsWithStats(darker.astype(np.uint8))
    area, half_diagonal = height * width, np.hypot(width / 2, height / 2)
    candidates = [(np.hypot(centres[i][0] - width / 2, centres[i][1] - height / 2) / half_diagonal
                   - stats[i, cv2.CC_STAT_AREA] / area, i)
                  for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= MIN_PART * area]
    return tuple(int(v) for v in stats[min(candidates)[1]]) if candidates else None


def lesion_box(photo: np.ndarray) -> Box | None:
    """The lesion's bounding box in a uint8 RGB photo's pixels, or None where no lesion stands out."""
    height, width = photo.shape[:2]
    scale = min(1.0, SEARCH_SIDE / max(height, width))
    small = cv2.resize(photo, (max(1, round(width * scale)), max(1, round(height * scale))),
                       interpolation=cv2.INTER_AREA)
    found = darker_component(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), central=True)
    if found is None:
        return None
    x, y, w, h, _ = found
    sy, sx = height / small.shape[0], width / small.shape[1]
    return Box(int(y * sy), int(x * sx), min(height, round((y + h) * sy)), min(width, round((x + w) * sx)))


def crop_box(photo: np.ndarray, framing: Framing) -> Box | None:
    """The part of ``photo`` the model should see under ``framing``, or None for the whole photo."""
    lesion = lesion_box(photo)
    if lesion is None:
        return None
    height, width = photo.shape[:2]
    scale = max((lesion.right - lesion.left) / (framing.target * width),
                (lesion.bottom - lesion.top) / (framing.target * height), framing.min_scale)
    if scale >= framing.apply_below:
        return None
    crop_height, crop_width = max(1, round(scale * height)), max(1, round(scale * width))
    top = int(np.clip(round((lesion.top + lesion.bottom - crop_height) / 2), 0, height - crop_height))
    left = int(np.clip(round((lesion.left + lesion.right - crop_width) / 2), 0, width - crop_width))
    return Box(top, left, top + crop_height, left + crop_width)


def framed(photo: np.ndarray, framing: Framing | None) -> tuple[np.ndarray, Box | None]:
    """The photo as the model should see it and where that lies in the photo (None: the whole photo)."""
    box = None if framing is None else crop_box(photo, framing)
    if box is None:
        return photo, None
    return photo[box.top:box.bottom, box.left:box.right], box


def farther(photo: np.ndarray, scale: float) -> np.ndarray:
    """The photo as if taken from further away: shrunk to ``scale`` of its side, centred on its own skin colour
    (the median of its outermost pixels). A validation check for framing and scale, not a real wider field."""
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1], got {scale!r}.")
    height, width = photo.shape[:2]
    rim = np.concatenate([photo[:3].reshape(-1, 3), photo[-3:].reshape(-1, 3), photo[:, :3].reshape(-1, 3),
                          photo[:, -3:].reshape(-1, 3)])
    canvas = np.empty_like(photo)
    canvas[:] = np.median(rim, axis=0).astype(np.uint8)
    small_height, small_width = max(1, round(height * scale)), max(1, round(width * scale))
    top, left = (height - small_height) // 2, (width - small_width) // 2
    canvas[top:top + small_height, left:left + small_width] = cv2.resize(photo, (small_width, small_height),
                                                                          interpolation=cv2.INTER_AREA)
    return canvas


def placed(attention: np.ndarray, box: Box | None, shape: tuple) -> np.ndarray:
    """An attention map of the framed view put back where the view lies in a photo of ``shape`` (zero outside:
    the model did not see that part)."""
    if box is None:
        return attention
    full = np.zeros(shape[:2], attention.dtype)
    full[box.top:box.bottom, box.left:box.right] = attention
    return full
