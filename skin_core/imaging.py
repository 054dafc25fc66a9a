"""Decoding of user images (any upload a clinic may produce), resizing, and heat-map overlays."""

import io
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MIN_SIDE = 32
MAX_PIXELS = 60_000_000  # about 8000 x 7500; larger files are refused before decoding
MAX_BYTES = 100 * 1024 * 1024


class InvalidImageError(ValueError):
    """The input cannot be used as a lesion photo. The message is written for the person who chose it;
    ``reason`` (one of REASONS) lets an application show it in another language."""

    REASONS = ("missing", "unsupported", "empty", "too_large", "unreadable", "damaged", "too_small", "channels")

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def load_rgb(image) -> np.ndarray:
    """Return an H x W x 3 uint8 RGB array from a path, bytes, file object, PIL image or array.

    EXIF orientation is applied; grayscale, palette, RGBA, CMYK and 16-bit images are converted.
    Raises InvalidImageError for empty, truncated, non-image, tiny or enormous inputs.
    """
    if isinstance(image, np.ndarray):
        return _from_array(image)
    if isinstance(image, Image.Image):
        return _from_pil(image)
    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            raise InvalidImageError(f"The file {path.name} does not exist.", "missing")
        data = path.read_bytes()
    elif isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
    elif hasattr(image, "read"):
        data = image.read()
    else:
        raise InvalidImageError("Please provide a photo (a JPEG, PNG, BMP, TIFF or WebP file).", "unsupported")
    if not data:
        raise InvalidImageError("The file is empty. Please choose the photo again.", "empty")
    if len(data) > MAX_BYTES:
        raise InvalidImageError("The file is larger than 100 MB. Please use a smaller photo.", "too_large")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as pil:
                if pil.width * pil.height > MAX_PIXELS:
                    raise InvalidImageError("The photo has too many pixels (over 60 megapixels). "
                                            "Please use a smaller photo.", "too_large")
                pil.load()
                return _from_pil(pil)
    except InvalidImageError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidImageError("This file is not a photo that can be read (JPEG, PNG, BMP, TIFF or WebP).",
                                "unreadable") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise InvalidImageError("The photo file is damaged or incomplete. Please choose it again.",
                                "damaged") from error


def _from_pil(pil: Image.Image) -> np.ndarray:
    pil = ImageOps.exif_transpose(pil)
    if pil.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit or 32-bit integer grayscale
        array = np.asarray(pil, dtype=np.float64)
        peak = 65535.0 if array.max() > 255 else 255.0
        pil = Image.fromarray(np.clip(array / peak * 255.0, 0, 255).astype(np.uint8))
    if pil.mode in ("RGBA", "LA", "PA") or (pil.mode == "P" and "transparency" in pil.info):
        rgba = pil.convert("RGBA")
        background = Image.new("RGB", pil.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        pil = background
    return _checked(np.asarray(pil.convert("RGB"), dtype=np.uint8))


def _from_array(array: np.ndarray) -> np.ndarray:
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise InvalidImageError("The image must have height, width and 3 colour channels.", "channels")
    array = array[..., :3]
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise InvalidImageError("The image must hold numeric pixel values.", "channels")
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise InvalidImageError("The image holds invalid pixel values (NaN or infinity).", "damaged")
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and array.max(initial=0) <= 1.0:
            array = array * 255.0
        array = np.clip(array, 0, 255).astype(np.uint8)
    return _checked(np.ascontiguousarray(array))


def _checked(array: np.ndarray) -> np.ndarray:
    height, width = array.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise InvalidImageError(f"The photo is too small ({width}×{height} pixels); "
                                f"at least {MIN_SIDE}×{MIN_SIDE} is needed.", "too_small")
    if height * width > MAX_PIXELS:
        raise InvalidImageError("The photo has too many pixels (over 60 megapixels). Please use a smaller photo.",
                                "too_large")
    return array


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an H x W x C array to (height, width); area averaging when shrinking, bilinear otherwise."""
    height, width = size
    shrinking = height * width < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def upscale_map(attention: np.ndarray, size: tuple[int, int], normalise: bool = True) -> np.ndarray:
    """Resize a low-resolution attention map to (height, width); with ``normalise``, stretch it to [0, 1]
    for display (without, the values keep their proportions, as needed to measure attention mass)."""
    resized = cv2.resize(attention.astype(np.float32), (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    if not normalise:
        return np.maximum(resized, 0.0)
    resized -= resized.min()
    peak = resized.max()
    return (resized / peak if peak > 0 else resized).astype(np.float32)


def overlay(image: np.ndarray, attention: np.ndarray, opacity: float = 0.5) -> np.ndarray:
    """Blend a [0, 1] attention map (same height and width as ``image``) as a JET heat map over the photo."""
    heat = cv2.applyColorMap((np.clip(attention, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
    return (image.astype(np.float32) * (1 - opacity) + heat.astype(np.float32) * opacity).astype(np.uint8)
