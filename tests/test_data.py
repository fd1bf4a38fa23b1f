"""utils/data.py: pairing and checking a trap-filled folder, error messages, splits.

The folder is scanned with utils.pipeline.scan_pets (which decodes each pair
for utils.data.build_report) and reported by `python -m tools.check_data`.
"""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.fixtures import (
    REAL_MINI,
    TRAP_SKIPPED,
    TRAP_TEST,
    TRAP_TRAINVAL,
    TRAP_UNLISTED,
    TRAP_VALID,
    build_trap_folder,
    encode,
    fake_pairs,
    jpeg_bytes,
    make_trimap,
    pack_and_extract,
    png_bytes,
    random_rgb,
    write_split_files,
)
from tools.check_data import main
from utils import data
from utils.config import ProjectError
from utils.data import (
    LISTED_ABSENT,
    NOT_LISTED,
    Pair,
    build_report,
    check_pair,
    find_pairs,
    read_pair,
    read_split_file,
    split_pairs,
    stats_pairs,
    subset_train,
    val_count,
)
from utils.pipeline import prepare_examples, scan_pets

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------
# The trap folder, built once and shipped through a .tar.gz like the release.
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trap_source(tmp_path_factory) -> Path:
    return build_trap_folder(tmp_path_factory.mktemp("trap") / "oxford_pets")


@pytest.fixture(scope="module")
def trap_dir(trap_source, tmp_path_factory) -> Path:
    return pack_and_extract(trap_source, tmp_path_factory.mktemp("tarball"))


@pytest.fixture(scope="module")
def trap_report(trap_dir) -> data.ScanReport:
    return scan_pets(trap_dir)


def test_tarball_round_trip_keeps_every_file(trap_source, trap_dir):
    def listing(folder):
        return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))

    assert listing(trap_dir) == listing(trap_source)
    for name in listing(trap_source):
        if (trap_source / name).is_file():
            assert filecmp.cmp(trap_source / name, trap_dir / name, shallow=False)


def test_scan_keeps_exactly_the_valid_stems(trap_report, trap_dir):
    assert [pair.stem for pair in trap_report.pairs] == sorted(TRAP_VALID)
    assert trap_report.data_dir == trap_dir
    for pair in trap_report.pairs:
        assert pair.trimap == trap_dir / "annotations" / "trimaps" / f"{pair.stem}.png"
        assert pair.image.parent == trap_dir / "images"
        assert pair.image.stem == pair.stem


def test_scan_keeps_odd_but_valid_image_files(trap_report, trap_dir):
    images = {pair.stem: pair.image.name for pair in trap_report.pairs}
    assert images["Alpha_7"] == "Alpha_7.jpg"  # a PNG with alpha inside
    assert images["Gif_8"] == "Gif_8.jpg"  # a GIF inside
    assert images["Upper_11"] == "Upper_11.JPG"
    assert images["Png_12"] == "Png_12.png"


def test_scan_reports_every_skipped_file_under_its_reason(trap_report):
    assert trap_report.skipped == TRAP_SKIPPED


def test_hidden_and_non_image_files_are_not_image(trap_report):
    ignored = trap_report.skipped[data.NOT_IMAGE]
    assert "images/._Cat_1.jpg" in ignored
    assert "trimaps/._Cat_1.png" in ignored
    assert "images/Abyssinian_100.mat" in ignored
    # The AppleDouble twin must not be paired as a stem of its own.
    stems = {pair.stem for pair in trap_report.pairs}
    assert not any(stem.startswith(".") for stem in stems)


@pytest.mark.parametrize(
    "stem, image_name, expected",
    [
        ("Cat_1", "Cat_1.jpg", None),
        ("Alpha_7", "Alpha_7.jpg", None),
        ("Gif_8", "Gif_8.jpg", None),
        ("Grey_9", "Grey_9.jpg", None),
        ("Cmyk_10", "Cmyk_10.jpg", None),
        ("Upper_11", "Upper_11.JPG", None),
        ("Png_12", "Png_12.png", None),
        ("Trunc_13", "Trunc_13.jpg", data.BAD_IMAGE),
        ("Zero_14", "Zero_14.jpg", data.BAD_VALUES),
        ("White_15", "White_15.jpg", data.BAD_VALUES),
        ("Mismatch_16", "Mismatch_16.jpg", data.SIZE_MISMATCH),
        ("Corrupt_19", "Corrupt_19.jpg", data.BAD_TRIMAP),
    ],
)
def test_check_pair_reason(trap_dir, stem, image_name, expected):
    pair = Pair(
        stem,
        trap_dir / "images" / image_name,
        trap_dir / "annotations" / "trimaps" / f"{stem}.png",
    )
    assert check_pair(pair) == expected


def test_check_pair_bad_image_wins_over_bad_trimap(tmp_path):
    image, trimap = tmp_path / "x.jpg", tmp_path / "x.png"
    image.write_bytes(b"garbage")
    trimap.write_bytes(b"garbage")
    assert check_pair(Pair("x", image, trimap)) == data.BAD_IMAGE


@pytest.mark.parametrize(
    "trimap, image_shape, code",
    [
        ([[1, 2], [3, 1]], (2, 2), 0),
        ([[2, 2], [2, 2]], (2, 2), 0),
        ([[1, 2], [3, 4]], (2, 2), 2),  # a value above 3
        ([[0, 2], [3, 1]], (2, 2), 2),  # a value below 1
        ([[1, 2], [3, 1]], (2, 3), 1),  # image one column wider
        ([[0, 2], [3, 1]], (3, 2), 1),  # a size mismatch is reported first
    ],
)
def test_read_pair_problem_code(tmp_path, trimap, image_shape, code):
    image, trimap_path = tmp_path / "x.jpg", tmp_path / "x.png"
    image.write_bytes(png_bytes(random_rgb(*image_shape)))
    trimap_path.write_bytes(png_bytes(np.array(trimap, np.uint8)))
    decoded, decoded_trimap, found = read_pair(str(image), str(trimap_path))
    assert int(found) == code
    assert data.PROBLEMS[code] == [None, data.SIZE_MISMATCH, data.BAD_VALUES][code]
    assert decoded.shape == (*image_shape, 3) and decoded.dtype == tf.uint8
    np.testing.assert_array_equal(decoded_trimap.numpy()[..., 0], trimap)


def _palette_png(trimap: np.ndarray) -> bytes:
    """A palette PNG storing `trimap` as indices into bright, made-up colours."""
    image = Image.fromarray(trimap, "P")
    image.putpalette([0, 0, 0, 250, 10, 10, 10, 250, 10, 10, 10, 250])
    return encode(image, "PNG")


@pytest.mark.parametrize(
    "encode_trimap",
    [
        png_bytes,
        _palette_png,
        lambda trimap: png_bytes(trimap.astype(np.uint16)),  # a 16-bit PNG
    ],
    ids=["grey", "palette", "16-bit"],
)
def test_read_pair_reads_the_stored_trimap_values(tmp_path, encode_trimap):
    trimap = np.array([[1, 2], [3, 1]], np.uint8)
    image, trimap_path = tmp_path / "x.jpg", tmp_path / "x.png"
    image.write_bytes(png_bytes(random_rgb(2, 2)))
    trimap_path.write_bytes(encode_trimap(trimap))
    _, decoded_trimap, code = read_pair(str(image), str(trimap_path))
    np.testing.assert_array_equal(decoded_trimap.numpy()[..., 0], trimap)
    assert int(code) == 0


def test_find_pairs_pairs_by_stem_without_decoding(trap_dir):
    candidates, skipped = find_pairs(trap_dir)
    expected = sorted(TRAP_VALID + ["Trunc_13", "Zero_14", "White_15"])
    expected += ["Mismatch_16", "Corrupt_19"]
    assert [pair.stem for pair in candidates] == sorted(expected)
    assert skipped[data.NO_TRIMAP] == TRAP_SKIPPED[data.NO_TRIMAP]
    assert skipped[data.NO_IMAGE] == TRAP_SKIPPED[data.NO_IMAGE]
    assert data.BAD_IMAGE not in skipped  # decoding is not its job


def test_pairs_are_matched_by_stem_not_by_sorted_position(tmp_path):
    """Cat_1 has no trimap and Eel_4 no image, at different sorted positions:
    pairing by position would give Cat_1 the trimap of Cat_2."""
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations" / "trimaps").mkdir(parents=True)
    for stem in ("Cat_1", "Cat_2", "Dog_3"):
        (tmp_path / "images" / f"{stem}.jpg").write_bytes(jpeg_bytes(8, 8))
    for stem in ("Cat_2", "Dog_3", "Eel_4"):
        trimap = tmp_path / "annotations" / "trimaps" / f"{stem}.png"
        trimap.write_bytes(png_bytes(make_trimap(8, 8)))
    pairs, skipped = find_pairs(tmp_path)
    assert [pair.stem for pair in pairs] == ["Cat_2", "Dog_3"]
    for pair in pairs:
        assert pair.image.stem == pair.trimap.stem == pair.stem
    assert skipped[data.NO_TRIMAP] == ["Cat_1"] and skipped[data.NO_IMAGE] == ["Eel_4"]


def test_build_report_names_the_file_of_a_pair_without_code(trap_dir):
    candidates, skipped = find_pairs(trap_dir)
    # Trunc_13 and Corrupt_19 have no code: a decoding pass dropped them.
    codes = {stem: 0 for stem in TRAP_VALID}
    codes |= {"Zero_14": 2, "White_15": 2, "Mismatch_16": 1}
    report = build_report(trap_dir, candidates, skipped, codes)
    assert [pair.stem for pair in report.pairs] == sorted(TRAP_VALID)
    assert report.skipped == TRAP_SKIPPED


def test_build_report_uses_the_codes_it_is_given(trap_dir):
    candidates, skipped = find_pairs(trap_dir)
    codes = {pair.stem: 0 for pair in candidates} | {"Cat_2": 1, "Cat_3": 2}
    report = build_report(trap_dir, candidates, skipped, codes)
    assert report.skipped[data.SIZE_MISMATCH] == ["Cat_2"]
    assert report.skipped[data.BAD_VALUES] == ["Cat_3"]


def test_scan_of_tarball_equals_scan_of_source(trap_source, trap_report):
    source_report = scan_pets(trap_source)
    assert [p.stem for p in source_report.pairs] == [p.stem for p in trap_report.pairs]
    assert source_report.skipped == trap_report.skipped


def test_summary_lists_counts_and_names(trap_report, trap_dir):
    lines = trap_report.summary().splitlines()
    assert lines[0] == f"{trap_dir}: {len(TRAP_VALID)} valid image/trimap pairs"
    expected = [
        f"  skipped, {reason} ({len(names)}): {', '.join(names)}"
        for reason, names in sorted(TRAP_SKIPPED.items())
    ]
    assert lines[1:] == expected


# --------------------------------------------------------------------------
# Folders that cannot be used: clear errors naming the folder.
# --------------------------------------------------------------------------


def _only_trimaps(root: Path) -> None:
    (root / "annotations" / "trimaps").mkdir(parents=True)


def _only_images(root: Path) -> None:
    (root / "images").mkdir(parents=True)


def _nested_one_level_too_deep(root: Path) -> None:
    (root / "oxford_pets" / "images").mkdir(parents=True)
    (root / "oxford_pets" / "annotations" / "trimaps").mkdir(parents=True)


def _a_file(root: Path) -> None:
    root.parent.mkdir(parents=True, exist_ok=True)
    root.write_text("not a folder")


@pytest.mark.parametrize(
    "make",
    [None, _only_trimaps, _only_images, _nested_one_level_too_deep, _a_file],
    ids=["missing", "no-images", "no-trimaps", "too-deep", "a-file"],
)
def test_scan_without_layout_raises_a_project_error(tmp_path, make):
    folder = tmp_path / "pets"
    if make is not None:
        make(folder)
    with pytest.raises(ProjectError) as err:
        scan_pets(folder)
    message = str(err.value)
    assert str(folder) in message
    assert "images/" in message and "annotations/trimaps/" in message
    assert "trainval.txt" in message  # the expected layout is spelled out


def _empty_layout(root: Path) -> None:
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)


def _only_broken_pairs(root: Path) -> None:
    _empty_layout(root)
    full = jpeg_bytes(20, 20)
    (root / "images" / "a_1.jpg").write_bytes(full[: len(full) // 2])
    (root / "annotations" / "trimaps" / "a_1.png").write_bytes(
        png_bytes(make_trimap(20, 20))
    )
    (root / "images" / "b_2.jpg").write_bytes(jpeg_bytes(20, 20))
    bad = make_trimap(20, 20, (1, 2, 0))
    (root / "annotations" / "trimaps" / "b_2.png").write_bytes(png_bytes(bad))
    (root / "images" / "c_3.jpg").write_bytes(jpeg_bytes(20, 20))  # no trimap
    (root / "images" / "._a_1.jpg").write_bytes(b"\x00\x05\x16\x07")


def _unpaired_names(root: Path) -> None:
    _empty_layout(root)
    (root / "images" / "a_1.jpg").write_bytes(jpeg_bytes(20, 20))
    (root / "annotations" / "trimaps" / "b_1.png").write_bytes(
        png_bytes(make_trimap(20, 20))
    )


@pytest.mark.parametrize(
    "make",
    [_empty_layout, _only_broken_pairs, _unpaired_names],
    ids=["empty", "all-broken", "unpaired"],
)
def test_scan_without_valid_pairs_raises_a_project_error(tmp_path, make):
    folder = tmp_path / "pets"
    make(folder)
    with pytest.raises(ProjectError, match="No valid image/trimap pairs") as err:
        scan_pets(folder)
    assert str(folder) in str(err.value)
    assert "Skipped: " in str(err.value)


def test_no_valid_pairs_lists_every_skip_reason_with_counts(tmp_path):
    _only_broken_pairs(tmp_path)
    with pytest.raises(ProjectError) as err:
        scan_pets(tmp_path)
    for reason, names in [
        (data.BAD_IMAGE, "a_1"),
        (data.BAD_VALUES, "b_2"),
        (data.NO_TRIMAP, "c_3"),
        (data.NOT_IMAGE, "images/._a_1.jpg"),
    ]:
        assert f"{reason} (1: {names})" in str(err.value)


# --------------------------------------------------------------------------
# The command line: `python -m tools.check_data DIR`.
# --------------------------------------------------------------------------


def test_cli_check_prints_the_report(trap_dir, trap_report, capsys):
    main([str(trap_dir)])
    out = capsys.readouterr().out
    split_drops = {LISTED_ABSENT: ["Absent_99"], NOT_LISTED: TRAP_UNLISTED}
    expected = data.ScanReport(
        trap_dir, trap_report.pairs, {**trap_report.skipped, **split_drops}
    )
    assert out == expected.summary() + "\n"
    assert f"{LISTED_ABSENT} (1): Absent_99" in out
    assert f"{NOT_LISTED} (2): Gif_8, Png_12" in out
    assert f"{len(TRAP_VALID)} valid image/trimap pairs" in out
    assert f"{data.BAD_VALUES} (2): White_15, Zero_14" in out
    assert f"{data.NO_TRIMAP} (1): Notrimap_17" in out
    assert "images/Abyssinian_100.mat" in out


@pytest.mark.parametrize("make", [None, _only_images, _only_broken_pairs])
def test_cli_check_on_bad_folder_exits_with_error(tmp_path, capsys, make):
    folder = tmp_path / "pets"
    if make is not None:
        make(folder)
    with pytest.raises(SystemExit) as exit_info:
        main([str(folder)])
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and err.count("\n") == 1
    assert str(folder) in err and out == ""


def test_cli_rejects_a_second_folder(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["here", "somewhere"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unrecognized arguments: somewhere")
    assert err.count("\n") == 1


@pytest.mark.slow
def test_cli_as_module(trap_dir):
    """`python -m tools.check_data DIR` (a subprocess: importing TF is slow)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, "-m", "tools.check_data", str(trap_dir)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{trap_dir}: {len(TRAP_VALID)} valid")
    assert f"{data.BAD_TRIMAP} (1): Corrupt_19" in done.stdout


# --------------------------------------------------------------------------
# Splits.
# --------------------------------------------------------------------------


def _stems(pairs):
    return [pair.stem for pair in pairs]


def test_official_split_of_trap_folder(trap_report, trap_dir):
    splits = split_pairs(trap_report.pairs, trap_dir, "official", 0.2, seed=0)
    valid = set(TRAP_VALID)
    assert _stems(splits["test"]) == sorted(s for s in TRAP_TEST if s in valid)
    assert _stems(splits["test"]) == ["Cat_3", "Upper_11", "dog_6"]
    train, val = set(_stems(splits["train"])), set(_stems(splits["val"]))
    assert not train & val
    assert train | val == {s for s in TRAP_TRAINVAL if s in valid}
    assert len(val) == round(0.2 * 7) == 1
    everything = train | val | set(_stems(splits["test"]))
    assert not everything & set(TRAP_UNLISTED)  # valid but in neither list
    assert "Absent_99" not in everything and "Trunc_13" not in everything
    for pairs in splits.values():
        assert _stems(pairs) == sorted(_stems(pairs))
        assert all(isinstance(p, Pair) for p in pairs)


@pytest.mark.parametrize(
    "num_trainval, val_fraction, num_val",
    [(10, 0.2, 2), (7, 0.2, 1), (7, 0.3, 2), (3, 0.2, 1), (4, 0.1, 0), (100, 0.25, 25)],
)
def test_official_split_sizes(tmp_path, num_trainval, val_fraction, num_val):
    pairs = fake_pairs(num_trainval + 5)
    stems = _stems(pairs)
    write_split_files(tmp_path, stems[:num_trainval], stems[num_trainval:])
    splits = split_pairs(pairs, tmp_path, "official", val_fraction, seed=3)
    assert len(splits["val"]) == num_val
    assert len(splits["train"]) == num_trainval - num_val
    assert set(_stems(splits["test"])) == set(stems[num_trainval:])
    assert set(_stems(splits["train"] + splits["val"])) == set(stems[:num_trainval])


@pytest.mark.parametrize(
    "num_pairs, num_train, num_val", [(10, 8, 2), (7, 6, 1), (5, 4, 1), (414, 331, 83)]
)
def test_random_split_sizes(tmp_path, num_pairs, num_train, num_val):
    pairs = fake_pairs(num_pairs)
    # No split files needed: the random split ignores them.
    splits = split_pairs(pairs, tmp_path, "random", 0.2, seed=1)
    assert (len(splits["train"]), len(splits["val"]), splits["test"]) == (
        num_train,
        num_val,
        [],
    )
    assert sorted(_stems(splits["train"] + splits["val"])) == sorted(_stems(pairs))


@pytest.fixture
def hundred(tmp_path):
    pairs = fake_pairs(100)
    stems = _stems(pairs)
    write_split_files(tmp_path, stems[:80], stems[80:])
    return pairs, tmp_path


@pytest.mark.parametrize("split", ["official", "random"])
def test_same_seed_same_split_other_seed_other_split(hundred, split):
    pairs, folder = hundred
    first = split_pairs(pairs, folder, split, seed=7)
    again = split_pairs(list(reversed(pairs)), folder, split, seed=7)
    other = split_pairs(pairs, folder, split, seed=8)
    assert {k: _stems(v) for k, v in first.items()} == {
        k: _stems(v) for k, v in again.items()
    }
    assert _stems(first["val"]) != _stems(other["val"])
    assert _stems(first["test"]) == _stems(other["test"])


@pytest.mark.parametrize("split", ["official", "random"])
@pytest.mark.parametrize("max_images", [1, 10, 37, 99])
def test_max_images_keeps_that_many(hundred, split, max_images):
    pairs, folder = hundred
    splits = split_pairs(pairs, folder, split, seed=5, max_images=max_images)
    kept = [s for pairs_ in splits.values() for s in _stems(pairs_)]
    assert len(kept) == len(set(kept)) == max_images
    if split == "official":
        assert set(_stems(splits["test"])) <= {f"Pet_{i}" for i in range(80, 100)}
    again = split_pairs(pairs, folder, split, seed=5, max_images=max_images)
    assert {k: _stems(v) for k, v in splits.items()} == {
        k: _stems(v) for k, v in again.items()
    }


@pytest.mark.parametrize("max_images", [None, 0, 100, 500])
def test_max_images_at_or_above_total_keeps_all(hundred, max_images):
    pairs, folder = hundred
    splits = split_pairs(pairs, folder, "random", max_images=max_images)
    assert len(splits["train"]) + len(splits["val"]) == 100


def test_official_split_excludes_pairs_in_neither_list(tmp_path):
    pairs = fake_pairs(10)
    stems = _stems(pairs)
    write_split_files(tmp_path, stems[:4], stems[4:6])
    splits = split_pairs(pairs, tmp_path, "official", 0.25)
    kept = {s for v in splits.values() for s in _stems(v)}
    assert kept == set(stems[:6])
    assert len(splits["val"]) == 1 and len(splits["train"]) == 3


def test_official_split_ignores_listed_stems_without_valid_pair(tmp_path):
    pairs = fake_pairs(4)
    write_split_files(tmp_path, ["Pet_0", "Pet_1", "Gone_9"], ["Pet_2", "Gone_8"])
    splits = split_pairs(pairs, tmp_path, "official", 0.5, seed=0)
    assert _stems(splits["test"]) == ["Pet_2"]
    assert set(_stems(splits["train"] + splits["val"])) == {"Pet_0", "Pet_1"}


def test_unknown_split_name_raises(tmp_path):
    with pytest.raises(ProjectError, match="'official' or 'random'"):
        split_pairs(fake_pairs(3), tmp_path, "stratified")


@pytest.mark.parametrize(
    "text, stems",
    [
        ("Foo_1 1 1 1\nBar_2 2 2 1\n", ["Foo_1", "Bar_2"]),
        ("#Image CLASS-ID SPECIES BREED ID\n#note\nFoo_1 1 1 1\n", ["Foo_1"]),
        ("\nFoo_1 1 1 1\n\n   \nBar_2 2 2 1", ["Foo_1", "Bar_2"]),
        ("Foo_1 1 1 1\r\nBar_2 2 2 1\r\n", ["Foo_1", "Bar_2"]),
        ("Foo_1\n#Bar_2 2 2 1\nBaz_3\t3 1 3\n", ["Foo_1", "Baz_3"]),
        ("", []),
        ("my cat_1 1 1 1\nmy dog_2\n", ["my cat_1", "my dog_2"]),
        ("caf\xe9_1 1 1 1\n", ["caf\xe9_1"]),
    ],
    ids=[
        "plain",
        "header",
        "blank-lines",
        "crlf",
        "stem-only-and-tab",
        "empty",
        "spaces-in-stem",
        "utf8-stem",
    ],
)
def test_read_split_file(tmp_path, text, stems):
    path = tmp_path / "list.txt"
    path.write_bytes(text.encode())
    assert read_split_file(path) == stems


def test_read_split_file_missing_is_helpful(tmp_path):
    path = tmp_path / "annotations" / "trainval.txt"
    with pytest.raises(ProjectError) as err:
        read_split_file(path)
    message = str(err.value)
    assert str(path) in message
    assert "official split" in message and "split='random'" in message


@pytest.mark.parametrize("missing", ["trainval.txt", "test.txt"])
def test_official_split_without_split_file_raises(tmp_path, missing):
    write_split_files(tmp_path, ["Pet_0"], ["Pet_1"])
    (tmp_path / "annotations" / missing).unlink()
    with pytest.raises(ProjectError, match=missing):
        split_pairs(fake_pairs(2), tmp_path, "official")
    # The random split does not need the files.
    assert len(split_pairs(fake_pairs(2), tmp_path, "random")["train"]) == 2


@pytest.mark.parametrize("count", [None, 5, 9])
def test_subset_train_keeps_everything_when_not_smaller(count):
    pairs = fake_pairs(5)
    assert subset_train(pairs, count, seed=0) == pairs


def test_subset_train_nests_smaller_subsets_in_larger_ones():
    pairs = fake_pairs(12)
    subsets = [set(subset_train(pairs, count, seed=3)) for count in (2, 5, 9)]
    assert [len(subset) for subset in subsets] == [2, 5, 9]
    assert subsets[0] <= subsets[1] <= subsets[2]
    # Kept in the split's own (sorted) order, whatever the draw.
    kept = subset_train(pairs, 5, seed=3)
    assert kept == sorted(kept, key=pairs.index)
    assert subset_train(pairs, 5, seed=4) != kept


def test_stats_pairs_is_a_fixed_seeded_order_capped_at_count():
    pairs = fake_pairs(6)
    first = stats_pairs(pairs, 4, seed=1)
    assert len(first) == 4 and len(set(first)) == 4
    assert first != pairs[:4]  # shuffled, not the split's first pairs
    assert stats_pairs(pairs, 4, seed=1) == first
    assert sorted(stats_pairs(pairs, 100, seed=1), key=pairs.index) == pairs


@pytest.mark.parametrize(
    "count, val_fraction, expected",
    # 3,680 x 0.2 = 736 exactly; 331 + 83 = 414 x 0.2 = 82.8 rounds up to 83;
    # 10 x 0.25 = 2.5 rounds to the even 2, as Python's round does.
    [(3_680, 0.2, 736), (414, 0.2, 83), (10, 0.25, 2), (5, 0.0, 0)],
)
def test_val_count(count, val_fraction, expected):
    assert val_count(count, val_fraction) == expected


# --------------------------------------------------------------------------
# The real mini subset of the release, when it is on this machine.
# --------------------------------------------------------------------------

needs_real = pytest.mark.real_data


@pytest.fixture(scope="module")
def real_report():
    return scan_pets(REAL_MINI)


@needs_real
def test_real_mini_scan(real_report):
    assert len(real_report.pairs) == 414
    assert real_report.skipped == {}
    # The AppleDouble file sits next to trimaps/, not inside it: never looked at.
    assert real_report.summary() == f"{REAL_MINI}: 414 valid image/trimap pairs"


@needs_real
def test_real_mini_keeps_png_and_gif_disguised_as_jpg(real_report):
    pairs = {pair.stem: pair for pair in real_report.pairs}
    for stem in ("Abyssinian_5", "Abyssinian_34"):
        assert pairs[stem].image.name == f"{stem}.jpg"
        assert check_pair(pairs[stem]) is None
    assert pairs["Abyssinian_5"].image.read_bytes()[:4] == b"\x89PNG"
    assert pairs["Abyssinian_34"].image.read_bytes()[:3] == b"GIF"


@needs_real
def test_real_mini_official_split(real_report):
    splits = split_pairs(real_report.pairs, REAL_MINI, "official", 0.2, seed=42)
    test_stems = read_split_file(REAL_MINI / "annotations" / "test.txt")
    trainval = read_split_file(REAL_MINI / "annotations" / "trainval.txt")
    assert len(splits["test"]) == 37
    assert _stems(splits["test"]) == sorted(test_stems)
    assert len(splits["train"]) + len(splits["val"]) == 300
    assert (len(splits["train"]), len(splits["val"])) == (240, 60)
    assert set(_stems(splits["train"] + splits["val"])) == set(trainval)
    # Abyssinian_34 is in no split file, so not in the official split.
    everything = {s for v in splits.values() for s in _stems(v)}
    assert "Abyssinian_34" not in everything and len(everything) == 337


@needs_real
def test_real_mini_random_split(real_report):
    splits = split_pairs(real_report.pairs, REAL_MINI, "random", 0.2, seed=42)
    assert (len(splits["train"]), len(splits["val"]), len(splits["test"])) == (
        331,
        83,
        0,
    )


def test_image_claiming_too_many_pixels_is_skipped_before_decoding(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations" / "trimaps").mkdir(parents=True)
    for stem in ("Cat_1", "Huge_2"):
        (tmp_path / "images" / f"{stem}.jpg").write_bytes(jpeg_bytes(12, 12))
        trimap = tmp_path / "annotations" / "trimaps" / f"{stem}.png"
        trimap.write_bytes(png_bytes(make_trimap(12, 12)))
    # 6,400 x 6,400 = 40,960,000 pixels: a 5 KB PNG of one-bit zeros.
    huge = encode(Image.new("1", (6400, 6400)), "PNG")
    (tmp_path / "images" / "Huge_2.jpg").write_bytes(huge)
    report = scan_pets(tmp_path)
    assert [pair.stem for pair in report.pairs] == ["Cat_1"]
    assert report.skipped == {data.TOO_LARGE: ["Huge_2"]}


def test_second_image_with_the_same_stem_is_reported(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations" / "trimaps").mkdir(parents=True)
    (tmp_path / "images" / "Cat_1.jpg").write_bytes(jpeg_bytes(12, 12))
    (tmp_path / "images" / "Cat_1.png").write_bytes(png_bytes(random_rgb(12, 12)))
    trimap = tmp_path / "annotations" / "trimaps" / "Cat_1.png"
    trimap.write_bytes(png_bytes(make_trimap(12, 12)))
    report = scan_pets(tmp_path)
    assert [pair.image.name for pair in report.pairs] == ["Cat_1.jpg"]
    assert report.skipped == {data.DUPLICATE: ["images/Cat_1.png"]}


def _write_bad_name(folder: Path, suffix: str, content: bytes) -> None:
    """A file whose name is Latin-1 bytes, not UTF-8 (as an old archive may hold)."""
    (Path(os.fsdecode(bytes(folder) + b"/caf\xe9_5" + suffix.encode()))).write_bytes(
        content
    )


def test_undecodable_file_name_is_skipped_and_reported(tmp_path, capsys):
    images, trimaps = tmp_path / "images", tmp_path / "annotations" / "trimaps"
    trimaps.mkdir(parents=True)
    images.mkdir()
    for stem in ("Cat_1", "Dog_2"):
        (images / f"{stem}.jpg").write_bytes(jpeg_bytes(12, 12))
        (trimaps / f"{stem}.png").write_bytes(png_bytes(make_trimap(12, 12)))
    _write_bad_name(images, ".jpg", jpeg_bytes(12, 12))
    _write_bad_name(trimaps, ".png", png_bytes(make_trimap(12, 12)))
    report, _ = prepare_examples(tmp_path, 16)
    assert [pair.stem for pair in report.pairs] == ["Cat_1", "Dog_2"]
    bad = ["images/caf\\xe9_5.jpg", "trimaps/caf\\xe9_5.png"]
    assert report.skipped == {data.BAD_NAME: bad}
    main([str(tmp_path)])
    assert f"{data.BAD_NAME} (2): {', '.join(bad)}" in capsys.readouterr().out


def test_official_split_keeps_listed_names_with_spaces(tmp_path):
    pairs = fake_pairs(4, prefix="my cat")
    write_split_files(tmp_path, _stems(pairs[:3]), _stems(pairs[3:]))
    splits = split_pairs(pairs, tmp_path, "official", 0.34, seed=0)
    assert sum(len(v) for v in splits.values()) == 4
    assert _stems(splits["test"]) == ["my cat_3"]


def test_official_split_reports_what_it_leaves_out(tmp_path):
    pairs = fake_pairs(4)
    write_split_files(tmp_path, ["Pet_0", "Pet_1", "Gone_9"], ["Pet_2", "Broken_7"])
    skipped = {data.BAD_IMAGE: ["Broken_7"]}
    split_pairs(pairs, tmp_path, "official", 0.5, seed=0, skipped=skipped)
    assert skipped == {
        data.BAD_IMAGE: ["Broken_7"],
        LISTED_ABSENT: ["Gone_9"],
        NOT_LISTED: ["Pet_3"],
    }
