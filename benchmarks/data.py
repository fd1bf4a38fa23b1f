"""Benchmark the reference notebook's NumPy loader against this project's pipeline.

`python -m benchmarks.data DIR [--count N] [--passes K] [--json PATH]` runs each
loader in its own subprocess on the same folder (so peak memory is per loader)
and prints time to the first full pass, cached images/s and peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks import PROJECT_ROOT
from benchmarks.measure import format_cells, proc_status_mb, repeat_pairs, timed_pass
from utils.config import OneLineParser, ProjectError, report_errors

LOADERS = ("reference", "pipeline")


def reference_file_lists(data_dir: str | Path) -> tuple[list[Path], list[Path]]:
    """The reference's file lists: sorted listdir of each folder, by extension."""
    image_dir = Path(data_dir) / "images"
    trimap_dir = Path(data_dir) / "annotations" / "trimaps"
    images = [
        image_dir / n for n in sorted(os.listdir(image_dir)) if n.endswith(".jpg")
    ]
    trimaps = [
        trimap_dir / n for n in sorted(os.listdir(trimap_dir)) if n.endswith(".png")
    ]
    return images, trimaps


def reference_loader(
    data_dir: str | Path, img_size: int = 128
) -> tuple[np.ndarray, np.ndarray]:
    """Replica of the reference loader: (N, S, S, 3) and (N, S, S) float32 arrays."""
    images, masks = [], []
    # Pairs by position, not by name, and resizes masks with PIL's default
    # (bicubic) filter: both as the reference did, on purpose.
    for image_path, trimap_path in zip(*reference_file_lists(data_dir)):
        image = Image.open(image_path).convert("RGB").resize((img_size, img_size))
        images.append(np.array(image, dtype=np.float32) / 255.0)
        mask = Image.open(trimap_path).resize((img_size, img_size))
        masks.append(np.array(mask, dtype=np.float32))
    return np.array(images), np.array(masks)


def reference_checks(data_dir: str | Path, masks: np.ndarray) -> dict:
    """Correctness of the reference: mispaired files, damage of bicubic masks."""
    images, trimaps = reference_file_lists(data_dir)
    pairs = list(zip(images, trimaps))
    size = masks.shape[1:3][::-1]
    nearest = [np.array(Image.open(t).resize(size, Image.NEAREST)) for _, t in pairs]
    return {
        "reference_pairs": len(pairs),
        "mismatched_pairs": sum(i.stem != t.stem for i, t in pairs),
        "dropped_by_zip": abs(len(images) - len(trimaps)),
        "mask_pixels_not_1_2_3": float(np.mean(~np.isin(masks, (1, 2, 3)))),
        "mask_pixels_differ_from_nearest": float(np.mean(masks != np.array(nearest))),
    }


def measure_reference(
    data_dir: str | Path, img_size: int = 128, batch_size: int = 32, passes: int = 3
) -> dict:
    """Time and memory of the reference loader, its first and K cached passes."""
    baseline = proc_status_mb("VmRSS")
    started = time.perf_counter()
    images, masks = reference_loader(data_dir, img_size)
    loaded = time.perf_counter() - started
    count, first_pass = array_pass(images, masks, batch_size)
    cached = sum(array_pass(images, masks, batch_size)[1] for _ in range(passes))
    result = loader_result(
        "reference", count, loaded + first_pass, passes, cached, baseline
    )
    return result | reference_checks(data_dir, masks)


def array_pass(
    images: np.ndarray, masks: np.ndarray, batch_size: int
) -> tuple[int, float]:
    """One pass over in-memory arrays in batches: (images seen, seconds)."""
    started = time.perf_counter()
    for start in range(0, len(images), batch_size):
        # Copied, as fit copies each NumPy batch into a tensor; a bare slice
        # is a view and would time nothing.
        np.array(images[start : start + batch_size])
        np.array(masks[start : start + batch_size])
    return len(images), time.perf_counter() - started


def measure_pipeline(
    data_dir: str | Path, img_size: int = 128, batch_size: int = 32, passes: int = 3
) -> dict:
    """Time and memory of prepare_examples + make_dataset, then K cached passes."""
    # Imported here so the reference's subprocess never loads TensorFlow.
    from utils.pipeline import make_dataset, prepare_examples

    baseline = proc_status_mb("VmRSS")
    started = time.perf_counter()
    report, examples = prepare_examples(data_dir, img_size)
    prepared = time.perf_counter() - started
    ds = make_dataset(report.pairs, img_size, batch_size, examples=examples)
    count, first_pass = timed_pass(ds)
    cached = sum(timed_pass(ds)[1] for _ in range(passes))
    result = loader_result(
        "pipeline", count, prepared + first_pass, passes, cached, baseline
    )
    return result | {"prepare_s": prepared}


def loader_result(
    name: str, count: int, first: float, passes: int, cached: float, baseline: float
) -> dict:
    """The keys every loader reports; memory is this process's peak RSS so far."""
    peak = proc_status_mb("VmHWM")
    return {
        "loader": name,
        "images": count,
        "first_pass_s": first,
        "cached_passes": passes,
        "cached_images_per_s": count * passes / cached if passes else None,
        "peak_rss_mb": peak,
        "baseline_rss_mb": baseline,
        "rss_growth_mb": peak - baseline,
    }


def make_subset(data_dir: str | Path, count: int, dest: Path) -> Path:
    """Symlink `count` image/trimap pairs of `data_dir` into dest, by sorted stem.

    Past the folder's pairs the list repeats under new stems (`<stem>_r<k>`), so
    a small folder can stand in for the release's size (7,390 pairs).
    """
    root = Path(data_dir).resolve()
    trimaps = {path.stem for path in (root / "annotations/trimaps").glob("*.png")}
    stems = sorted(p.stem for p in (root / "images").glob("*.jpg") if p.stem in trimaps)
    for sub, suffix in (("images", ".jpg"), ("annotations/trimaps", ".png")):
        (dest / sub).mkdir(parents=True)
        for index, stem in enumerate(repeat_pairs(stems, count)):
            repeat = index // len(stems)
            name = f"{stem}_r{repeat}" if repeat else stem
            (dest / sub / f"{name}{suffix}").symlink_to(root / sub / f"{stem}{suffix}")
    return dest


def run_child(loader: str, data_dir: Path, img_size: int, passes: int) -> dict:
    """Measure one loader in a fresh interpreter; returns its result dict."""
    command = [sys.executable, "-m", "benchmarks.data", str(data_dir)]
    command += ["--child", loader, "--img-size", str(img_size), "--passes", str(passes)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(f"{loader} loader failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare_loaders(
    data_dir: str | Path, count: int | None = None, passes: int = 3, img_size: int = 128
) -> dict:
    """Both loaders on the same folder, each in its own subprocess, with ratios."""
    layout = ("images", "annotations/trimaps")
    if not all((Path(data_dir) / sub).is_dir() for sub in layout):
        raise ProjectError(
            f"{data_dir} is not an Oxford-IIIT Pet folder: expected images/ and "
            "annotations/trimaps/ in it."
        )
    with tempfile.TemporaryDirectory(prefix="benchmark_data_") as tmp:
        folder = make_subset(data_dir, count, Path(tmp)) if count else Path(data_dir)
        results = {name: run_child(name, folder, img_size, passes) for name in LOADERS}
    ref, pipe = results["reference"], results["pipeline"]
    results["ratios"] = {
        "first_pass_ref_over_pipe": ref["first_pass_s"] / pipe["first_pass_s"],
        "peak_rss_pipe_over_ref": pipe["peak_rss_mb"] / ref["peak_rss_mb"],
        "rss_growth_pipe_over_ref": pipe["rss_growth_mb"]
        / max(ref["rss_growth_mb"], 1e-9),
    }
    results["settings"] = dict(data_dir=str(data_dir), count=count, img_size=img_size)
    return results


ROWS = (  # (label, key of each loader's result, key of the ratio or None)
    ("images loaded", "images", None),
    ("first full pass (s)", "first_pass_s", "first_pass_ref_over_pipe"),
    ("cached passes (images/s)", "cached_images_per_s", None),
    ("RSS after imports (MB)", "baseline_rss_mb", None),
    ("peak RSS (MB)", "peak_rss_mb", "peak_rss_pipe_over_ref"),
    ("peak RSS growth (MB)", "rss_growth_mb", "rss_growth_pipe_over_ref"),
)


def format_comparison(results: dict) -> str:
    """The printable table and correctness notes of `compare_loaders` results."""
    # Imported here: utils.evaluate loads TensorFlow, which the reference
    # loader's process must not (its memory is measured).
    from utils.evaluate import markdown_table

    ref, pipe, ratios = results["reference"], results["pipeline"], results["ratios"]
    rows = [
        [label, ref[key], pipe[key], f"{ratio} {ratios[ratio]:.3g}" if ratio else ""]
        for label, key, ratio in ROWS
    ]
    header = ["", "reference (NumPy)", "pipeline (tf.data)", "ratio"]
    verdict = "MISPAIRED" if ref["mismatched_pairs"] else "none mispaired here"
    return "\n".join(
        [
            markdown_table(header, map(format_cells, rows)),
            "",
            f"Reference positional zip: {ref['reference_pairs']} pairs, "
            f"{ref['mismatched_pairs']} with mismatched stems, "
            f"{ref['dropped_by_zip']} files left over ({verdict}).",
            f"Reference bicubic masks: {ref['mask_pixels_not_1_2_3']:.3%} of pixels "
            f"are not 1, 2 or 3; {ref['mask_pixels_differ_from_nearest']:.3%} "
            "differ from a nearest-neighbour resize.",
            "Pipeline first pass includes validating, decoding and caching "
            f"every pair ({pipe['prepare_s']:.3g} s); "
            "peak RSS includes the interpreter and its libraries (TensorFlow).",
        ]
    )


def build_parser() -> OneLineParser:
    """The command's flags."""
    parser = OneLineParser(
        prog="python -m benchmarks.data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("data_dir", help="an Oxford-IIIT Pet folder (images/, annotations/trimaps/)")
    add("--count", type=int, metavar="N", help="first N pairs, repeated if needed")
    add(
        "--passes",
        type=int,
        default=3,
        metavar="K",
        help="cached passes (default %(default)s)",
    )
    add(
        "--img-size",
        type=int,
        default=128,
        metavar="N",
        help="image side in pixels (default %(default)s)",
    )
    add("--json", metavar="FILE", help="also write the results to this file")
    add("--child", choices=LOADERS, help=argparse.SUPPRESS)  # one loader, internal
    return parser


@report_errors
def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m benchmarks.data`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.child:
        measure = measure_reference if args.child == "reference" else measure_pipeline
        print(json.dumps(measure(args.data_dir, args.img_size, passes=args.passes)))
        return
    results = compare_loaders(args.data_dir, args.count, args.passes, args.img_size)
    print(format_comparison(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
