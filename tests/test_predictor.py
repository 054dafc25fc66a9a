import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image, ImageDraw

from skin_core import InvalidImageError, InvalidMetadataError, imaging, load_predictor, paths
from skin_core.classes import CLASS_CODES, MALIGNANT_CODES

PLAIN_COLOURS = [(40, 90, 200), (180, 120, 100), (128, 128, 128), (60, 30, 20)]


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


def test_a_plain_photo_gives_a_flat_attention_map_and_the_prediction_is_untouched(predictor):
    for colour in PLAIN_COLOURS:
        plain = np.full((123, 157, 3), colour, np.uint8)
        result = predictor.predict(plain, age=40, sex="female", site="back")
        assert np.ptp(result.attention) == 0.0 and np.ptp(result.attention_heads) == 0.0
        outputs, _ = predictor.photo_outputs(plain, (40, "female", "back"))
        assert [p for _, p in result.ranked] == sorted(outputs.probabilities[0].tolist(), reverse=True)


def committed(name: str):
    folder = paths.REPO_DIR / "weights" / name
    if not (folder / "model.keras").is_file():
        pytest.skip(f"needs the committed bundle weights/{name}, which is absent")
    return load_predictor(folder)


@pytest.fixture(scope="module", params=["efficientnetlite2-224", "mobilenetv2"])
def shipped(request):
    return committed(request.param)


def edge_gaps(attention: np.ndarray, band: int) -> np.ndarray:
    """Mean of the top, bottom, left and right bands of a [0, 1] map minus the mean of the rest."""
    inside = attention[band:-band, band:-band].mean()
    return np.array([attention[:band].mean(), attention[-band:].mean(), attention[:, :band].mean(),
                     attention[:, -band:].mean()]) - inside


def test_the_overlay_of_a_plain_photo_has_no_cold_bottom_and_right_band(shipped):
    """The cause: the network's own map for a plain photo is cold along the bottom and right edges (zero
    padding of stride-2 convolutions on even sizes); the overlay relates it to that and stays flat."""
    height, width = shipped.input_size
    for colour in PLAIN_COLOURS:
        plain = np.full((height, width, 3), colour, np.uint8)
        raw = shipped.runner.run(plain[None], shipped.encoder.encode()[None]).heads[0].sum(axis=-1)
        assert raw[-1].mean() < 0.3 * raw[:-1].mean() and raw[:, -1].mean() < 0.3 * raw[:, :-1].mean()
        band = max(height, width) // 10
        assert np.abs(edge_gaps(shipped.predict(plain).attention, band)).max() <= 0.02


@pytest.mark.parametrize("where", ["bottom-right", "top-left", "bottom-left", "right", "centre"])
def test_a_dark_spot_is_still_where_the_overlay_points(shipped, where):
    height, width = shipped.input_size
    centre = {"bottom-right": (height - 22, width - 22), "top-left": (22, 22), "bottom-left": (height - 22, 22),
              "right": (height // 2, width - 22), "centre": (height // 2, width // 2)}[where]
    rows, columns = np.mgrid[:height, :width]
    distance = np.hypot(rows - centre[0], columns - centre[1])
    photo = np.full((height, width, 3), (200, 150, 130), np.uint8)
    photo[distance < 18] = (70, 40, 30)
    attention = shipped.predict(photo).attention
    near = distance < 40
    assert attention[near].sum() / attention.sum() > 1.3 * near.mean()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss is in kilobytes on Linux only")
def test_a_60_megapixel_png_is_analysed_within_400_mb(tiny_bundle, tmp_path):
    """Peak memory of one prediction of a 7740 x 7740 PNG, in a fresh process after a warm-up (whose resident
    size is then its peak): the photo is shrunk while decoding (decoded at full size it took over 1 GB)."""
    path = tmp_path / "huge.png"
    big = Image.new("RGB", (7740, 7740), (200, 150, 130))
    ImageDraw.Draw(big).ellipse((2500, 2500, 5200, 5200), fill=(90, 50, 40))
    big.save(path, compress_level=1)
    del big
    script = textwrap.dedent("""
        import resource, sys
        import numpy as np
        from skin_core import load_predictor
        predictor = load_predictor(sys.argv[1])
        predictor.predict(np.full((300, 300, 3), 120, np.uint8))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = predictor.predict(sys.argv[2])
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(max(result.attention.shape), (after - before) / 1024)
    """)
    done = subprocess.run([sys.executable, "-c", script, str(tiny_bundle), str(path)], cwd=paths.REPO_DIR,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    side, growth_mb = done.stdout.split()[-2:]
    assert int(side) == imaging.DISPLAY_SIDE
    assert float(growth_mb) <= 400, f"predicting a 60-megapixel PNG grew the process by {growth_mb} MB"


def counted_forward_passes(predictor, monkeypatch) -> list:
    """A list that gets one entry per forward pass of the predictor's model."""
    calls = []
    infer = predictor.runner._infer
    monkeypatch.setattr(predictor.runner, "_infer", lambda inputs: calls.append(len(inputs)) or infer(inputs))
    return calls


def test_the_baseline_is_computed_once_per_colour_and_model(tiny_bundle, monkeypatch):
    """The overlay's baseline (a featureless photo of the photo's mean colour) costs a second forward pass only
    for the first photo of its colour; the next photo of that colour, and the same photo again, take one."""
    fresh = load_predictor(tiny_bundle)
    calls = counted_forward_passes(fresh, monkeypatch)
    first = photo(seed=1)
    fresh.predict(first)
    assert len(calls) == 2 and fresh.runner.baseline_misses == 1
    mirrored = fresh.predict(first[:, ::-1])  # another photo, the same mean colour
    again = fresh.predict(first)
    assert len(calls) == 4 and fresh.runner.baseline_hits == 2 and fresh.runner.baseline_cache_size == 1
    assert mirrored.attention.shape == again.attention.shape == first.shape[:2]
    fresh.predict(np.full((123, 157, 3), (30, 200, 60), np.uint8))  # another colour: its own baseline
    fresh.predict(first, tta=True)  # flip averaging: its own baseline too
    assert len(calls) == 8 and fresh.runner.baseline_cache_size == 3


def test_cached_and_fresh_baselines_give_the_same_overlay(tiny_bundle):
    image = photo(seed=2)
    cold = load_predictor(tiny_bundle).predict(image, age=30, sex="male", site="face")
    warm = load_predictor(tiny_bundle)
    warm.predict(image)
    again = warm.predict(image, age=30, sex="male", site="face")
    np.testing.assert_array_equal(again.attention, cold.attention)
    assert again.ranked == cold.ranked


def test_the_baseline_cache_is_bounded_and_keeps_the_recently_used(tiny_bundle, monkeypatch):
    from skin_core import predictor as predictor_module

    monkeypatch.setattr(predictor_module, "BASELINE_CACHE_SIZE", 3)
    fresh = load_predictor(tiny_bundle)
    runner, size, unknown = fresh.runner, fresh.input_size, fresh.encoder.encode()[None]
    calls = counted_forward_passes(fresh, monkeypatch)
    for level in (40, 80, 120):
        runner.baseline_heads((level,) * 3, size, unknown)
    runner.baseline_heads((40,) * 3, size, unknown)  # used again: now the most recent
    runner.baseline_heads((160,) * 3, size, unknown)  # evicts 80, the least recently used
    assert runner.baseline_cache_size == 3 and len(calls) == 4
    runner.baseline_heads((40,) * 3, size, unknown)
    assert len(calls) == 4
    runner.baseline_heads((80,) * 3, size, unknown)
    assert len(calls) == 5 and runner.baseline_cache_size == 3


def test_the_baseline_cache_serves_several_threads(tiny_bundle):
    from concurrent.futures import ThreadPoolExecutor

    fresh = load_predictor(tiny_bundle)
    runner, size, unknown = fresh.runner, fresh.input_size, fresh.encoder.encode()[None]
    levels = [40, 80, 120, 160] * 6
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda level: runner.baseline_heads((level,) * 3, size, unknown), levels))
    assert runner.baseline_cache_size == 4 and runner.baseline_hits + runner.baseline_misses == len(levels)
    for level, heads in zip(levels, results):
        np.testing.assert_array_equal(heads, runner.baseline_heads((level,) * 3, size, unknown))
        assert not heads.flags.writeable


def test_the_baseline_colour_is_grey_behind_a_colour_constancy_layer(predictor):
    """A colour-constancy layer turns a featureless photo grey at its mean brightness: photos of one brightness
    share a baseline whatever their hue; without the layer each channel is rounded."""
    from skin_core.predictor import BASELINE_GREY_STEP, BASELINE_STEP

    runner = predictor.runner
    original = runner.colour_constancy
    try:
        runner.colour_constancy = True
        assert runner.baseline_colour((200.2, 100.0, 60.3)) == runner.baseline_colour((120.0, 120.4, 120.1)) \
            == (120, 120, 120)
        assert runner.baseline_colour((0.2, 100.0, 200.0))[0] == 0  # a black channel stays black
        assert all(v % BASELINE_GREY_STEP == 0 for v in runner.baseline_colour((91.0, 17.0, 250.0)))
        runner.colour_constancy = False
        assert runner.baseline_colour((200.2, 100.0, 60.3)) == (208, 96, 64)
        assert runner.baseline_colour((254.0, 3.0, 9.0)) == (255, 0, 16)
        assert all(v % BASELINE_STEP == 0 for v in runner.baseline_colour((91.0, 17.0, 100.0)))
    finally:
        runner.colour_constancy = original
