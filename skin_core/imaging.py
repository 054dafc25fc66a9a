"""Decoding of user images (any upload a clinic may produce), resizing, and heat-map overlays."""

import io
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from skin_core.framing import Framing, framed

MIN_SIDE = 32
MAX_PIXELS = 60_000_000  # about 8000 x 7500; larger files are refused before decoding
MAX_BYTES = 100 * 1024 * 1024
MAX_ASPECT = 6.0  # longest side / shortest side; a lesion photo is never a strip
DISPLAY_SIDE = 1024  # what a page, an overlay and a report need


class InvalidImageError(ValueError):
    """The input cannot be used as a lesion photo. The message is written for the person who chose it;
    ``reason`` (one of REASONS) lets an application show it in another language."""

    REASONS = ("missing", "unsupported", "empty", "too_large", "unreadable", "damaged", "too_small", "channels",
               "aspect")

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def load_rgb(image, max_side: int | None = None) -> np.ndarray:
    """Return an H x W x 3 uint8 RGB array from a path, bytes, file object, PIL image or array.

    EXIF orientation is applied; grayscale, palette, RGBA, CMYK and 16-bit images are converted.
    With ``max_side`` the result is shrunk to at most that many pixels on its longest side, and a JPEG is
    decoded at a reduced scale straight away, so a large photo never occupies memory at full size.
    Raises InvalidImageError for empty, truncated, non-image, tiny, enormous or strip-shaped inputs.
    """
    if isinstance(image, np.ndarray):
        return _bounded(_from_array(image), max_side)
    if isinstance(image, Image.Image):
        return _bounded(_from_pil(image), max_side)
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
                _check_size(pil.width, pil.height)
                if max_side and max(pil.size) > max_side:
                    pil.draft("RGB", (max_side, max_side))  # JPEG: decode at 1/2, 1/4 or 1/8 scale
                pil.load()
                return _bounded(_from_pil(_reduced(pil, max_side)), max_side)
    except InvalidImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidImageError("The photo has too many pixels (over 60 megapixels). Please use a smaller photo.",
                                "too_large") from None
    except UnidentifiedImageError:
        raise InvalidImageError("This file is not a photo that can be read (JPEG, PNG, BMP, TIFF or WebP).",
                                "unreadable") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise InvalidImageError("The photo file is damaged or incomplete. Please choose it again.",
                                "damaged") from error


def _reduced(pil: Image.Image, max_side: int | None) -> Image.Image:
    """A decoded photo at least twice ``max_side`` shrunk by a whole factor (box averaging) first, upright, so
    that the conversions after it copy a small image: a 60-megapixel PNG otherwise took four full-size copies
    (about 180 MB each) while being converted."""
    if not max_side or max(pil.size) < 2 * max_side:
        return pil
    ImageOps.exif_transpose(pil, in_place=True)  # the orientation tag does not survive reduce()
    return pil.reduce(max(pil.size) // max_side)


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


def _check_size(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise InvalidImageError("The photo has too many pixels (over 60 megapixels). Please use a smaller photo.",
                                "too_large")
    if min(height, width) < MIN_SIDE:
        raise InvalidImageError(f"The photo is too small ({width}×{height} pixels); "
                                f"at least {MIN_SIDE}×{MIN_SIDE} is needed.", "too_small")
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise InvalidImageError(f"The picture is a narrow strip ({width}×{height} pixels), not a lesion photo. "
                                f"Please use a photo of the lesion.", "aspect")


def _checked(array: np.ndarray) -> np.ndarray:
    _check_size(array.shape[1], array.shape[0])
    return array


def _bounded(image: np.ndarray, max_side: int | None) -> np.ndarray:
    """The image shrunk (area averaging) so that its longest side is at most ``max_side``."""
    height, width = image.shape[:2]
    if not max_side or max(height, width) <= max_side:
        return image
    scale = max_side / max(height, width)
    return resize(image, (max(1, round(height * scale)), max(1, round(width * scale))))


def jpeg_bytes(image, max_side: int | None = None, quality: int = 90) -> bytes:
    """A photo (anything ``load_rgb`` takes) as a JPEG of at most ``max_side`` pixels on its longest side."""
    buffer = io.BytesIO()
    Image.fromarray(load_rgb(image, max_side=max_side)).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


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


def colour_scale(width: int = 256, height: int = 12) -> np.ndarray:
    """The overlay's colour map from no attention (left) to the most attention (right), as an RGB strip."""
    ramp = np.tile(np.linspace(0, 255, width).astype(np.uint8), (height, 1))
    return cv2.cvtColor(cv2.applyColorMap(ramp, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)


def overlay(image: np.ndarray, attention: np.ndarray, opacity: float = 0.5) -> np.ndarray:
    """Blend a [0, 1] attention map (same height and width as ``image``) as a JET heat map over the photo."""
    heat = cv2.applyColorMap((np.clip(attention, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
    return (image.astype(np.float32) * (1 - opacity) + heat.astype(np.float32) * opacity).astype(np.uint8)


def load_images(paths, size: tuple[int, int], workers: int = 4, framing: Framing | None = None) -> np.ndarray:
    """Decode and resize every image once into an (N, height, width, 3) uint8 array (framed first, when a
    bundle frames its photos)."""
    def one(path):
        try:
            return resize(framed(load_rgb(path, max_side=DISPLAY_SIDE), framing)[0], size)
        except InvalidImageError as error:
            raise InvalidImageError(f"{path}: {error} Replace the file or remove its row from the CSV.",
                                    error.reason) from None

    with ThreadPoolExecutor(workers) as pool:
        images = list(pool.map(one, paths))
    return np.stack(images) if images else np.zeros((0, *size, 3), np.uint8)
