import io

import cv2
import numpy as np
import pytest
from PIL import Image

from skin_core.imaging import InvalidImageError, load_rgb, overlay, upscale_map


def encoded(image: Image.Image, format="PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("format", ["JPEG", "PNG", "BMP", "TIFF", "WEBP"])
def test_common_formats_decode_to_rgb(format):
    array = load_rgb(encoded(Image.new("RGB", (90, 60), (200, 100, 50)), format))
    assert array.shape == (60, 90, 3) and array.dtype == np.uint8
    assert abs(int(array[30, 45, 0]) - 200) < 8


def test_grayscale_rgba_and_16_bit_become_rgb():
    assert load_rgb(encoded(Image.new("L", (40, 40), 77)))[0, 0].tolist() == [77, 77, 77]
    rgba = Image.new("RGBA", (40, 40), (255, 0, 0, 0))  # fully transparent: shows the white background
    assert load_rgb(encoded(rgba))[0, 0].tolist() == [255, 255, 255]
    sixteen = Image.fromarray(np.full((40, 40), 65535, dtype=np.uint16))
    assert load_rgb(encoded(sixteen))[0, 0].tolist() == [255, 255, 255]


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (80, 40), (0, 0, 255))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    assert load_rgb(encoded(image, "JPEG", exif=exif)).shape == (80, 40, 3)


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"%PDF-1.4 not a photo", "not a photo"),
    (encoded(Image.new("RGB", (1, 1))), "too small"),
])
def test_bad_inputs_raise_one_documented_error(data, message):
    with pytest.raises(InvalidImageError, match=message):
        load_rgb(data)


def test_truncated_file_is_reported_as_damaged():
    whole = encoded(Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8)), "JPEG")
    with pytest.raises(InvalidImageError, match="damaged"):
        load_rgb(whole[: len(whole) // 3])


def test_enormous_image_is_refused_before_decoding():
    huge = encoded(Image.new("1", (9000, 8000)))  # 72 megapixels, a few kB compressed
    with pytest.raises(InvalidImageError, match="too many pixels"):
        load_rgb(huge)


def test_overlay_blends_and_keeps_size():
    image = np.zeros((30, 40, 3), np.uint8)
    attention = upscale_map(np.array([[0.0, 1.0], [0.0, 0.0]]), (30, 40))
    assert attention.shape == (30, 40) and attention.min() == 0.0 and attention.max() == 1.0
    blended = overlay(image, attention, opacity=0.5)
    assert blended.shape == image.shape and blended.max() > 0


@pytest.mark.parametrize("array", [np.full((64, 64, 3), np.nan), np.full((64, 64, 3), np.inf, np.float32),
                                   np.array([["a"] * 64] * 64)])
def test_arrays_without_usable_pixel_values_are_refused(array):
    with pytest.raises(InvalidImageError):
        load_rgb(array)


def test_a_decompression_bomb_is_too_large_not_unreadable():
    bomb = encoded(Image.new("1", (9000, 9000)), "PNG")  # 81 megapixels, a few kilobytes
    with pytest.raises(InvalidImageError) as caught:
        load_rgb(bomb)
    assert caught.value.reason == "too_large"


def test_a_strip_is_refused_and_a_large_photo_is_decoded_bounded():
    with pytest.raises(InvalidImageError) as caught:
        load_rgb(encoded(Image.new("RGB", (6000, 32)), "PNG"))
    assert caught.value.reason == "aspect"
    photo = load_rgb(encoded(Image.new("RGB", (4000, 3000), (150, 90, 70)), "JPEG"), max_side=1024)
    assert photo.shape == (768, 1024, 3) and abs(int(photo[0, 0, 0]) - 150) <= 2


@pytest.mark.parametrize("format", ["JPEG", "PNG", "TIFF", "WEBP"])
def test_a_large_photo_shrunk_while_decoding_stays_upright_and_faithful(format):
    """Photos over twice the asked size are shrunk by a whole factor right after decoding: the result is the
    full decode shrunk by area averaging (within a grey level), and the EXIF orientation is kept."""
    photo = Image.new("RGB", (4000, 3000), (200, 10, 10))
    photo.paste((10, 200, 10), (0, 0, 2000, 3000))
    exif = photo.getexif()
    exif[0x0112] = 6  # shot sideways: the upright photo is 3000 wide, 4000 high
    buffer = io.BytesIO()
    photo.save(buffer, format=format, exif=exif.tobytes())
    shrunk = load_rgb(buffer.getvalue(), max_side=512)
    reference = cv2.resize(load_rgb(buffer.getvalue()), (384, 512), interpolation=cv2.INTER_AREA)
    assert shrunk.shape == (512, 384, 3)
    assert np.abs(shrunk.astype(int) - reference.astype(int)).mean() < 1.0
    assert shrunk[0, 192, 1] > 150 and shrunk[-1, 192, 0] > 150  # green half on top once upright
