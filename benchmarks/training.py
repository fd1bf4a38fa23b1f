"""Benchmark the U-Net's training, inference and data preparation on this machine.

`python -m benchmarks.training [--data-dir DIR] [--count N] [--steps S] [--json PATH]`
measures everything in one process: FLOPs per image, a reference convolution
rate, fit images/s from memory and through the pipeline, predict images/s and
how data preparation time and memory scale with the image count. The model's
rates and the convolution's are measured in float32 and in mixed bfloat16 side
by side (`--precisions`); the report says whether the CPU runs bfloat16
natively (avx512_bf16 or amx_bf16) or emulates it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import tempfile
import time
from pathlib import Path

if __name__ == "__main__":
    # Run as a command: load TensorFlow with its start-up log muted before
    # the imports below load it.
    from utils.config import start_tensorflow_quietly

    start_tensorflow_quietly()

import keras
import tensorflow as tf

from benchmarks import PROJECT_ROOT
from benchmarks.flops import CONV_SHAPE, reference_conv_rate, training_flops_per_image
from benchmarks.measure import format_cells, machine_info, measure_scaling
from benchmarks.measure import repeat_pairs, timed_pass
from utils.config import REFERENCE_RECIPE, Config, report_errors
from utils.data import Pair
from utils.evaluate import markdown_table
from utils.pipeline import make_dataset, scan_pets
from utils.sources import make_synthetic_pets
from utils.config import OneLineParser
from utils.train import BF16_FLAGS, build_model, read_cpu_flags

DEFAULT_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data" / "oxford_pets_mini"
SCALING_COUNTS = (250, 500, 1000)
HEADER = ("machine", "data", "settings")  # results sections printed as key=value


class StepTimer(keras.callbacks.Callback):
    """Wall time from the start of a fit's first batch to the end of its last."""

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if batch == 0:
            self.started = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.seconds = time.perf_counter() - self.started


def fit_rate(model: keras.Model, ds: tf.data.Dataset, steps: int, batch: int) -> float:
    """Training images/s of `model.fit` for `steps` full batches of a repeating ds."""
    # Timed from batch to batch: fit's own set-up (callbacks, iterator) is a
    # fixed cost that would swamp short runs.
    timer = StepTimer()
    model.fit(
        ds, epochs=1, steps_per_epoch=steps, callbacks=[timer], shuffle=False, verbose=0
    )
    return steps * batch / timer.seconds


def in_memory_dataset(
    images: tf.Tensor, masks: tf.Tensor, batch_size: int
) -> tf.data.Dataset:
    """Endless batches of tensors already in memory: the compute ceiling's input."""
    ds = tf.data.Dataset.from_tensor_slices((images, masks)).batch(batch_size)
    return ds.repeat().prefetch(tf.data.AUTOTUNE)


def measure_training(
    model: keras.Model, pairs: list[Pair], img_size: int, batch_size: int, steps: int
) -> tuple[dict, tf.Tensor]:
    """Pipeline passes, then fit images/s from memory and through the pipeline.

    `len(pairs)` must be a multiple of `batch_size` so every step is a full
    batch (a partial one would retrace the train step inside the timing).
    Returns the results and the images held in memory.
    """
    ds = make_dataset(pairs, img_size, batch_size, shuffle=True, cache="")
    count, first_pass = timed_pass(ds)
    _, cached_pass = timed_pass(ds)
    images, masks = (tf.concat(list(parts), 0) for parts in zip(*ds))
    memory_ds = in_memory_dataset(images, masks, batch_size)
    warm_up = batch_size / fit_rate(model, memory_ds, 1, batch_size)  # traces
    in_memory = fit_rate(model, memory_ds, steps, batch_size)
    # Same shapes and dtypes as in memory, so the traced train step is reused.
    pipeline = fit_rate(model, ds.repeat(), steps, batch_size)
    results = {
        "pipeline_images": count,
        "pipeline_first_pass_s": first_pass,
        "pipeline_cached_pass_images_per_s": count / cached_pass,
        "warm_up_step_s": warm_up,
        "fit_in_memory_images_per_s": in_memory,
        "fit_pipeline_images_per_s": pipeline,
        "pipeline_over_in_memory": pipeline / in_memory,
    }
    return results, images


def measure_inference(model: keras.Model, images: tf.Tensor, runs: int) -> dict:
    """predict_on_batch images/s on one batch, after a tracing warm-up call."""
    model.predict_on_batch(images)
    started = time.perf_counter()
    for _ in range(runs):
        model.predict_on_batch(images)
    seconds = time.perf_counter() - started
    batch = int(images.shape[0])
    return {"batch_size": batch, "runs": runs, "images_per_s": runs * batch / seconds}


def measure_precision(
    config: Config, pairs: list[Pair], steps: int, conv_shape: tuple
) -> dict:
    """Fit and predict images/s of a model built in `config.precision`, and the
    reference convolution's GFLOP/s in that dtype."""
    keras.utils.set_random_seed(config.seed)
    model = build_model(config, steps_per_epoch=steps)
    size, batch = config.img_size, config.batch_size
    training, images = measure_training(model, pairs, size, batch, steps)
    conv = reference_conv_rate(conv_shape, dtype=conv_dtype(config.precision))
    return {
        "fit_in_memory_images_per_s": training["fit_in_memory_images_per_s"],
        "fit_pipeline_images_per_s": training["fit_pipeline_images_per_s"],
        "predict_images_per_s": measure_inference(model, images[:batch], steps)[
            "images_per_s"
        ],
        "conv_best_gflops": conv["best_gflops"],
    }


def conv_dtype(precision: str) -> str:
    """The dtype of the reference convolution that compares with `precision`."""
    return precision if precision in ("bfloat16", "float16") else "float32"


def flop_results(model: keras.Model, training: dict, reference: dict) -> dict:
    """FLOPs per image and the FLOP/s fit achieved, also as a share of reference."""
    flops = training_flops_per_image(model)
    peak = reference["best_gflops"] * 1e9
    results = {
        "forward_gflop_per_image": flops / 3e9,
        "training_gflop_per_image": flops / 1e9,
    }
    for source in ("in_memory", "pipeline"):
        achieved = flops * training[f"fit_{source}_images_per_s"]
        results[f"fit_{source}_gflops"] = achieved / 1e9
        results[f"fit_{source}_fraction_of_reference"] = achieved / peak
    return results


def find_data(data_dir: str | None, tmp: str, count: int) -> tuple[Path, str]:
    """The folder to measure and where it came from (given, default, synthetic)."""
    if data_dir:
        return Path(data_dir), "given"
    if DEFAULT_DATA_DIR.is_dir():
        return DEFAULT_DATA_DIR, "default real Oxford-IIIT Pet subset"
    return make_synthetic_pets(Path(tmp), max(count, 48), seed=0), "synthetic"


def run_benchmark(
    data_dir: str | None = None,
    count: int = 96,
    steps: int = 3,
    img_size: int = 128,
    batch_size: int = 32,
    scaling_counts: tuple = SCALING_COUNTS,
    conv_shape: tuple = CONV_SHAPE,
    compare_jit: bool = False,
    precisions: tuple = ("float32", "bfloat16"),
) -> dict:
    """Every measurement of `python -m benchmarks.training`, as a JSON-ready dict.

    The first of `precisions` gives the main measurements; each further one
    (e.g. bfloat16) times the same fits, prediction and convolution again in
    the same process, for like-for-like ratios. With `compare_jit`, the fits
    run again on a model compiled with XLA (`jit_compile=True`).
    """
    # The reference's recipe, as the performance page's timings were measured:
    # the model's speed, not the recipe's, is what the benchmark follows.
    recipe = {**REFERENCE_RECIPE, "batch_size": batch_size}
    config = Config(img_size=img_size, precision=precisions[0], **recipe)
    # Whole batches only, so no step of a timed fit retraces on a short batch.
    used = max(1, math.ceil(count / batch_size)) * batch_size
    flags = read_cpu_flags()
    native = sorted(set(BF16_FLAGS) & flags) or ["none: bfloat16 is emulated"]
    settings = dict(
        count=used,
        steps=steps,
        img_size=img_size,
        batch_size=batch_size,
        precision=precisions[0],
        cpu_bfloat16_instructions=" ".join(native),
    )
    with tempfile.TemporaryDirectory(prefix="bench_pets_") as tmp:
        folder, source = find_data(data_dir, tmp, used)
        pairs = scan_pets(folder).pairs
        results = {
            "machine": machine_info(),
            "settings": settings,
            "data": dict(dir=str(folder), source=source, pairs=len(pairs)),
            "reference_conv": reference_conv_rate(
                conv_shape, dtype=conv_dtype(precisions[0])
            ),
            "scaling": measure_scaling(pairs, scaling_counts, img_size, batch_size),
        }
        results["data"]["fit_pairs_repeated"] = used > len(pairs)
        keras.utils.set_random_seed(config.seed)
        model = build_model(config, steps_per_epoch=steps)
        training, images = measure_training(
            model, repeat_pairs(pairs, used), img_size, batch_size, steps
        )
        results["training"] = training
        results["flops"] = flop_results(model, training, results["reference_conv"])
        results["inference"] = measure_inference(model, images[:batch_size], steps)
        results["precisions"] = {
            precision: measure_precision(
                dataclasses.replace(config, precision=precision),
                repeat_pairs(pairs, used),
                steps,
                conv_shape,
            )
            for precision in precisions[1:]
        }
        if compare_jit:
            jit_config = dataclasses.replace(config, jit_compile=True)
            jit_model = build_model(jit_config, steps_per_epoch=steps)
            results["training_jit"], _ = measure_training(
                jit_model, repeat_pairs(pairs, used), img_size, batch_size, steps
            )
    return results


def format_report(results: dict) -> str:
    """The printable Markdown report of `run_benchmark` results."""
    flops, fit, conv = results["flops"], results["training"], results["reference_conv"]
    rows = [
        ["training GFLOP / image (3 x forward)", flops["training_gflop_per_image"]],
        ["reference 3x3 conv GFLOP/s, best", conv["best_gflops"]],
        ["reference 3x3 conv GFLOP/s, median", conv["median_gflops"]],
        ["fit, in-memory tensors (images/s)", fit["fit_in_memory_images_per_s"]],
        ["fit, pipeline cached (images/s)", fit["fit_pipeline_images_per_s"]],
        ["fit, pipeline / in-memory", fit["pipeline_over_in_memory"]],
        ["fit, in-memory GFLOP/s", flops["fit_in_memory_gflops"]],
        ["fit, in-memory / reference", flops["fit_in_memory_fraction_of_reference"]],
        ["fit, pipeline / reference", flops["fit_pipeline_fraction_of_reference"]],
        ["first train step incl. tracing (s)", fit["warm_up_step_s"]],
        ["pipeline first pass, data only (s)", fit["pipeline_first_pass_s"]],
        ["pipeline cached pass (images/s)", fit["pipeline_cached_pass_images_per_s"]],
        ["predict_on_batch (images/s)", results["inference"]["images_per_s"]],
    ]
    main = results["settings"].get("precision", "float32")
    for precision, rates in results.get("precisions", {}).items():
        ratio = f"{precision} / {main}"
        rows += [
            [
                f"fit, in-memory, {precision} (images/s)",
                rates["fit_in_memory_images_per_s"],
            ],
            [
                f"fit, in-memory, {ratio}",
                rates["fit_in_memory_images_per_s"] / fit["fit_in_memory_images_per_s"],
            ],
            [
                f"fit, pipeline, {ratio}",
                rates["fit_pipeline_images_per_s"] / fit["fit_pipeline_images_per_s"],
            ],
            [
                f"predict_on_batch, {ratio}",
                rates["predict_images_per_s"] / results["inference"]["images_per_s"],
            ],
            [
                f"reference 3x3 conv GFLOP/s, best, {precision}",
                rates["conv_best_gflops"],
            ],
        ]
    if "training_jit" in results:
        jit = results["training_jit"]["fit_in_memory_images_per_s"]
        rows.append(["fit, in-memory, jit_compile=True (images/s)", jit])
        rows.append(
            ["jit_compile=True / default", jit / fit["fit_in_memory_images_per_s"]]
        )
    scaling = results["scaling"]
    scaling_rows = [format_cells(row.values()) for row in scaling]
    return "\n".join(
        [
            *(f"{name}: {key_values(results[name])}" for name in HEADER),
            "",
            markdown_table(["measurement", "value"], map(format_cells, rows)),
            "",
            "Data preparation (decode+resize+cache; pairs repeated to reach a count):",
            "",
            markdown_table(list(scaling[0]), scaling_rows),
        ]
    )


def key_values(section: dict) -> str:
    """'key=value, ...' of one results section, for the report's header lines."""
    return ", ".join(f"{key}={value}" for key, value in section.items())


def parse_ints(text: str) -> tuple[int, ...]:
    """'250,500,1000' -> (250, 500, 1000), for the comma-separated options."""
    return tuple(int(n) for n in text.split(","))


def build_parser() -> OneLineParser:
    """The command's flags."""
    parser = OneLineParser(
        prog="python -m benchmarks.training",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add(
        "--data-dir",
        metavar="DIR",
        help=f"default: {DEFAULT_DATA_DIR} if present, else synthetic",
    )
    add(
        "--count",
        type=int,
        default=96,
        metavar="N",
        help="pairs to fit on, whole batches (default %(default)s)",
    )
    add(
        "--steps",
        type=int,
        default=3,
        metavar="N",
        help="timed steps per fit (default %(default)s)",
    )
    add(
        "--img-size",
        type=int,
        default=128,
        metavar="N",
        help="image side in pixels (default %(default)s)",
    )
    add(
        "--batch-size",
        type=int,
        default=32,
        metavar="N",
        help="images per batch (default %(default)s)",
    )
    add(
        "--scaling",
        dest="scaling_counts",
        type=parse_ints,
        default=SCALING_COUNTS,
        metavar="N,N,...",
        help="image counts of the data-preparation scaling (default 250,500,1000)",
    )
    add(
        "--conv-shape",
        type=parse_ints,
        default=CONV_SHAPE,
        metavar="B,H,W,C",
        help="shape of the reference convolution's input (default 32,64,64,64)",
    )
    add("--compare-jit", action="store_true", help="also time fit with XLA")
    add(
        "--precisions",
        type=lambda text: tuple(text.split(",")),
        default=("float32", "bfloat16"),
        metavar="P,P",
        help="precisions to compare, the first is the main one "
        "(default float32,bfloat16)",
    )
    add("--json", metavar="FILE", help="also write the results to this file")
    return parser


@report_errors
def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m benchmarks.training`."""
    parser = build_parser()
    options = vars(parser.parse_args(argv))
    json_path = options.pop("json")
    results = run_benchmark(**options)
    print(format_report(results))
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
