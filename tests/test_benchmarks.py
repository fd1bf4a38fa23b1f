"""Benchmarks: FLOP counting, and that every measurement runs and reports its keys.

Only tiny settings and no timing assertions: timings depend on the machine.
"""

import argparse
import ast
import json
import subprocess
import sys
import tempfile
from tests.callbacks import assert_one_line_error
from pathlib import Path

import keras
import pytest

from benchmarks import data, flops, measure, training, truthful_bn
from utils.config import ProjectError
from utils.model import build_unet
from utils.pipeline import scan_pets
from utils.sources import make_synthetic_pets

ROOT = Path(__file__).resolve().parents[1]

LOADER_KEYS = {
    "loader",
    "images",
    "first_pass_s",
    "cached_passes",
    "cached_images_per_s",
    "peak_rss_mb",
    "baseline_rss_mb",
    "rss_growth_mb",
}


@pytest.fixture(autouse=True)
def scratch_in_tmp_path(tmp_path, monkeypatch):
    """The benchmarks' temporary folders go under the test's own tmp_path."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


@pytest.fixture(scope="module")
def six_pets(tmp_path_factory):
    return make_synthetic_pets(tmp_path_factory.mktemp("six"), 6, seed=0)


@pytest.fixture(scope="module")
def eight_pets(tmp_path_factory):
    return make_synthetic_pets(tmp_path_factory.mktemp("eight"), 8, seed=1)


@pytest.mark.parametrize("package", ["benchmarks", "tools"])
def test_lesson_package_imports_nothing_from_the_benchmarks_or_tools(package):
    for path in (ROOT / "utils").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(name.split(".")[0] == package for name in names), path


@pytest.mark.parametrize("module", [data, training, truthful_bn])
def test_every_flag_of_every_benchmark_has_help(module):
    parser = module.build_parser()
    assert [action.dest for action in parser._actions if not action.help] == []
    # The loader's internal flag is hidden from --help, not undocumented.
    hidden = [a.dest for a in parser._actions if a.help == argparse.SUPPRESS]
    assert hidden == (["child"] if module is data else [])


@pytest.mark.parametrize(
    "main, argv, message",
    [
        (training.main, ["--steps", "x"], "argument --steps: invalid int value"),
        (training.main, ["--scaling", "1,a"], "argument --scaling: invalid"),
        (training.main, ["--data-dir", "{tmp}/none"], "is not an Oxford-IIIT Pet"),
        (data.main, [], "the following arguments are required: data_dir"),
        (data.main, ["{tmp}/none"], "is not an Oxford-IIIT Pet folder"),
        (truthful_bn.main, ["--check-epochs"], "expected at least one argument"),
        (
            truthful_bn.main,
            ["--fast", "--epochs", "2", "--check-epochs", "3"],
            "lie outside the run's 1..2 epochs",
        ),
        (truthful_bn.main, ["--fast", "--learning-rate", "-1"], "Config.learning_rate"),
    ],
)
def test_benchmark_errors_are_one_line(tmp_path, capsys, main, argv, message):
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    assert_one_line_error(main, argv, capsys, message)


def test_result_cells_keep_three_significant_digits_of_floats_only():
    cells = measure.format_cells([0.123456, 2.5e4, 7390, None, "ratio"])
    assert cells == ["0.123", "2.5e+04", "7390", "None", "ratio"]


def test_training_flops_of_a_tiny_model_match_a_hand_count():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 2)),
            keras.layers.Conv2D(4, 3, padding="same"),
            keras.layers.MaxPooling2D(1),  # no weights: counts nothing
            keras.layers.Conv2DTranspose(1, 3, strides=2, padding="same"),
        ]
    )
    conv = 2 * 3 * 3 * 2 * 4 * 8 * 8  # 9,216: on the 8x8 output grid
    transpose = 2 * 3 * 3 * 4 * 1 * 8 * 8  # 4,608: on the 8x8 input grid
    assert flops.forward_flops_per_image(model) == 13_824 == conv + transpose
    assert flops.training_flops_per_image(model) == 41_472 == 3 * 13_824


def test_unet_training_flops_are_three_forward_passes_of_about_20_gflop():
    model = build_unet()
    forward = flops.forward_flops_per_image(model)
    training = flops.training_flops_per_image(model)
    assert training == pytest.approx(3 * forward)
    assert 10e9 < training < 40e9


@pytest.mark.slow  # a whole benchmark again, through the command: ~20 s
def test_training_command_reports_every_section(eight_pets, tmp_path, capsys):
    path = tmp_path / "training.json"
    training.main(
        [
            *("--data-dir", str(eight_pets), "--count", "8", "--steps", "1"),
            *("--img-size", "32", "--batch-size", "8", "--scaling", "4,12"),
            *("--conv-shape", "2,16,16,8"),
            *("--json", str(path)),
        ]
    )
    results = json.loads(path.read_text())
    assert set(results) == {
        "machine",
        "settings",
        "data",
        "reference_conv",
        "scaling",
        "training",
        "flops",
        "inference",
        "precisions",
    }
    # float32 is the main measurement; bfloat16 is timed again beside it, and
    # the settings say whether this CPU runs it natively or emulates it.
    assert set(results["precisions"]) == {"bfloat16"}
    rates = results["precisions"]["bfloat16"]
    assert rates["fit_in_memory_images_per_s"] > 0 and rates["conv_best_gflops"] > 0
    assert results["settings"]["precision"] == "float32"
    assert results["settings"]["cpu_bfloat16_instructions"]
    assert {"cpu", "intra_op_threads", "tensorflow"} <= set(results["machine"])
    assert results["data"]["pairs"] == 8
    assert results["training"]["pipeline_images"] == 8
    assert [row["images"] for row in results["scaling"]] == [4, 12]
    assert [row["repeated"] for row in results["scaling"]] == [False, True]
    assert results["flops"]["training_gflop_per_image"] > 0
    assert results["inference"]["batch_size"] == 8
    out = capsys.readouterr().out
    assert "| fit, in-memory tensors (images/s) |" in out
    assert "| fit, in-memory, bfloat16 / float32 |" in out


def test_count_is_rounded_up_to_whole_batches_of_repeated_pairs(eight_pets):
    results = training.run_benchmark(
        str(eight_pets),
        count=5,
        steps=1,
        img_size=32,
        batch_size=4,
        scaling_counts=(2,),
        conv_shape=(1, 8, 8, 4),
        precisions=("float32",),
    )
    assert results["settings"]["count"] == 8
    assert results["training"]["pipeline_images"] == 8


def test_both_loaders_load_every_pair_and_report_their_keys(six_pets):
    reference = data.measure_reference(six_pets, 32, batch_size=4, passes=1)
    pipeline = data.measure_pipeline(six_pets, 32, batch_size=4, passes=1)
    assert reference["images"] == pipeline["images"] == 6
    assert LOADER_KEYS <= set(reference) and LOADER_KEYS <= set(pipeline)
    assert reference["mismatched_pairs"] == reference["dropped_by_zip"] == 0
    assert 0 <= reference["mask_pixels_differ_from_nearest"] <= 1


def test_reference_pairing_check_finds_a_positional_mispairing(tmp_path):
    root = make_synthetic_pets(tmp_path / "pets", 4, seed=2)
    trimaps = sorted((root / "annotations" / "trimaps").iterdir())
    trimaps[1].unlink()  # an image without trimap shifts every later pair
    reference = data.measure_reference(root, 16, batch_size=2, passes=0)
    assert reference["images"] == reference["reference_pairs"] == 3
    assert reference["mismatched_pairs"] == 2
    assert reference["dropped_by_zip"] == 1


@pytest.mark.parametrize("count, repeats", [(4, 0), (6, 0), (14, 2)])
def test_make_subset_links_pairs_and_repeats_them_past_the_folder(
    six_pets, tmp_path, count, repeats
):
    folder = data.make_subset(six_pets, count, tmp_path / "subset")
    images = sorted((folder / "images").iterdir())
    trimaps = sorted((folder / "annotations" / "trimaps").iterdir())
    assert len(images) == len(trimaps) == count
    assert sum("_r" in path.stem for path in images) == count - min(count, 6)
    assert any(path.stem.endswith(f"_r{repeats}") for path in images) == (repeats > 0)
    for image, trimap in zip(images, trimaps):
        # Positional pairing (the reference's) still matches names and sources.
        assert image.stem == trimap.stem
        assert image.resolve().stem == trimap.resolve().stem
    assert len(scan_pets(folder).pairs) == count


@pytest.mark.slow
def test_data_command_compares_loaders_in_subprocesses(six_pets, tmp_path, capsys):
    path = tmp_path / "data.json"
    data.main(
        [str(six_pets), "--count", "4", "--passes", "1"]
        + ["--img-size", "32", "--json", str(path)]
    )
    results = json.loads(path.read_text())
    assert set(results) == {"reference", "pipeline", "ratios", "settings"}
    assert results["reference"]["images"] == results["pipeline"]["images"] == 4
    assert set(results["ratios"]) == {
        "first_pass_ref_over_pipe",
        "peak_rss_pipe_over_ref",
        "rss_growth_pipe_over_ref",
    }
    assert "none mispaired here" in capsys.readouterr().out


def test_compare_loaders_refuses_a_folder_that_is_no_release(tmp_path):
    with pytest.raises(ProjectError, match="expected images/ and"):
        data.compare_loaders(tmp_path)


@pytest.mark.slow
def test_reference_loader_process_never_loads_tensorflow():
    """Its peak memory is the reference's: no TensorFlow in it."""
    code = (
        "import sys, benchmarks.data as d; d.build_parser(); "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False False"


@pytest.mark.slow
@pytest.mark.parametrize(
    "module", ["benchmarks.training", "benchmarks.data", "benchmarks.truthful_bn"]
)
def test_benchmark_commands_run_as_modules(module):
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: python -m {module}")


@pytest.mark.parametrize(
    "precision, dtype",
    [("float32", "float32"), ("bfloat16", "bfloat16"), ("float16", "float16")],
)
def test_reference_convolution_runs_in_the_compared_precision(precision, dtype):
    assert training.conv_dtype(precision) == dtype
