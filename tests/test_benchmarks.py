"""Benchmarks: FLOP counting, and that every measurement runs and reports its keys.

Only tiny settings and no timing assertions: timings depend on the machine.
"""

import ast
import json
from pathlib import Path

import keras
import pytest

from benchmarks import data, flops, measure, training
from utils.data import scan_pets
from utils.model import build_unet
from utils.synthetic import make_synthetic_pets

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


@pytest.fixture(scope="module")
def six_pets(tmp_path_factory):
    return make_synthetic_pets(tmp_path_factory.mktemp("six"), 6, seed=0)


@pytest.fixture(scope="module")
def eight_pets(tmp_path_factory):
    return make_synthetic_pets(tmp_path_factory.mktemp("eight"), 8, seed=1)


def test_lesson_package_imports_nothing_from_the_benchmarks():
    utils_dir = Path(__file__).resolve().parents[1] / "utils"
    for path in utils_dir.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(name.split(".")[0] == "benchmarks" for name in names), path


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
    }
    assert {"cpu", "intra_op_threads", "tensorflow"} <= set(results["machine"])
    assert results["data"]["pairs"] == 8
    assert results["training"]["pipeline_images"] == 8
    assert [row["images"] for row in results["scaling"]] == [4, 12]
    assert [row["repeated"] for row in results["scaling"]] == [False, True]
    assert results["flops"]["training_gflop_per_image"] > 0
    assert results["inference"]["batch_size"] == 8
    assert "| fit, in-memory tensors (images/s) |" in capsys.readouterr().out


def test_count_is_rounded_up_to_whole_batches_of_repeated_pairs(eight_pets):
    results = training.run_benchmark(
        str(eight_pets),
        count=5,
        steps=1,
        img_size=32,
        batch_size=4,
        scaling_counts=(2,),
        conv_shape=(1, 8, 8, 4),
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
