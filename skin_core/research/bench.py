"""Benchmark model bundles on this machine and store the figures in each bundle's config.

    python -m skin_core bench [--model NAME ...] [--runs 50] [--no-write]

Per bundle: parameters, size on disk, median and 90th-percentile latency of one ``Predictor.predict`` call
(JPEG bytes in, ranked result and attention map out) after warm-up, the same for a plain
``keras.Model.predict`` call on the already-decoded input, and batch throughput.
"""

import argparse
import io
import json
import sys
import time
from dataclasses import asdict

import numpy as np
from PIL import Image

from skin_core import bundle as bundles
from skin_core import imaging
from skin_core.research import hardware
from skin_core.bundle import Benchmark
from skin_core.model import IMAGE_INPUT, METADATA_INPUT
from skin_core.predictor import Predictor


def _sample_jpeg(seed=0) -> bytes:
    """A 200 x 150 lesion-like JPEG (the HAM10000 copy's size), so the benchmark needs no dataset."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:150, :200]
    lesion = ((yy - 75) / 50.0) ** 2 + ((xx - 100) / 65.0) ** 2 < 1
    pixels = np.where(lesion[..., None], [120, 70, 50], [215, 170, 150]) + rng.normal(0, 8, (150, 200, 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def _timed(call, runs: int) -> np.ndarray:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000.0)
    return np.array(timings)


def benchmark(bundle: bundles.Bundle, runs: int = 50, warmup: int = 5, batch: int = 64) -> Benchmark:
    predictor = Predictor.from_bundle(bundle)
    jpeg = _sample_jpeg()
    predict = lambda: predictor.predict(jpeg, age=55, sex="male", site="back")  # noqa: E731
    for _ in range(warmup):
        predict()
    latency = _timed(predict, runs)

    keras_latency, batch_seconds = 0.0, 0.0
    for member in getattr(predictor.calibrated, "members", [predictor.calibrated]):  # an ensemble runs each of its members in turn
        resized = imaging.resize(imaging.load_rgb(jpeg), member.input_size)[None].astype(np.float32)
        inputs = {IMAGE_INPUT: resized}
        if member.uses_metadata:
            inputs[METADATA_INPUT] = member.encoder.encode(55, "male", "back")[None]
        for _ in range(warmup):
            member.model.predict(inputs, verbose=0)
        keras_latency += np.median(_timed(lambda: member.model.predict(inputs, verbose=0), max(10, runs // 2)))
        images = np.repeat(resized.astype(np.uint8), batch, axis=0)
        metadata = np.repeat(member.encoder.encode()[None], batch, axis=0)
        member.predict_arrays(images[:32], metadata[:32])
        started = time.perf_counter()
        member.predict_arrays(images, metadata)
        batch_seconds += time.perf_counter() - started

    members = getattr(predictor.calibrated, "members", [predictor.calibrated])
    folders = {b.path for b in [bundle, *_model_bundles(bundle)]}
    size = sum(f.stat().st_size for folder in folders for f in folder.iterdir() if f.is_file())
    return Benchmark(
        parameters=int(sum(member.model.count_params() for member in members)),
        bundle_mb=round(size / 2**20, 2),
        model_file_mb=round(sum((m.path / bundles.MODEL_FILE).stat().st_size for m in _model_bundles(bundle)) / 2**20, 2),
        latency_ms_median=round(float(np.median(latency)), 2),
        latency_ms_p90=round(float(np.percentile(latency, 90)), 2),
        keras_predict_ms_median=round(float(keras_latency), 2),
        throughput_images_per_s=round(batch / batch_seconds, 1),
        runs=runs,
        hardware=hardware.describe(),
        date=time.strftime("%Y-%m-%d"),
    )


def _model_bundles(bundle: bundles.Bundle) -> list:
    return bundles.open_members(bundle) if bundle.config.is_ensemble else [bundle]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skin_core bench", description=__doc__.split("\n")[1])
    parser.add_argument("--model", nargs="*", default=None, help="bundle names or folders (default: all)")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--no-write", action="store_true", help="print only; leave the bundles unchanged")
    args = parser.parse_args(argv)
    names = args.model or bundles.list_bundles()
    if not names:
        print("error: no model bundles found", file=sys.stderr)
        return 2
    results = {}
    for name in names:
        try:
            bundle = bundles.open_bundle(name)
            results[bundle.name] = benchmark(bundle, runs=args.runs)
        except bundles.BundleError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        if not args.no_write:
            bundles.write_report(bundle, bundles.BENCHMARK_REPORT, asdict(results[bundle.name]))
        print(json.dumps({bundle.name: asdict(results[bundle.name])}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
