"""utils/synthetic.py: the stand-in dataset has the release's layout and values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from utils.data import scan_pets
from utils.splits import read_split_file, split_pairs
from utils.synthetic import make_synthetic_pets

NUM = 6


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    return make_synthetic_pets(tmp_path_factory.mktemp("synth") / "pets", NUM, seed=0)


def _stems(folder: Path, suffix: str) -> list[str]:
    return sorted(p.stem for p in folder.iterdir() if p.suffix == suffix)


def test_official_layout(synthetic):
    images = _stems(synthetic / "images", ".jpg")
    trimaps = _stems(synthetic / "annotations" / "trimaps", ".png")
    assert len(images) == NUM and images == trimaps
    assert sorted(p.name for p in (synthetic / "images").iterdir()) == [
        f"{s}.jpg" for s in images
    ]
    for name in ("trainval.txt", "test.txt", "list.txt"):
        assert (synthetic / "annotations" / name).is_file()
    # Stems look like the release's: Breed_<n>, capitalised cats, lower-case dogs.
    assert {s.rsplit("_", 1)[0] for s in images} == {"Synthetic_cat", "synthetic_dog"}
    assert sorted(int(s.rsplit("_", 1)[1]) for s in images) == list(range(1, NUM + 1))


def test_trimaps_have_exactly_values_1_2_3(synthetic):
    for path in sorted((synthetic / "annotations" / "trimaps").iterdir()):
        with Image.open(path) as trimap:
            assert trimap.mode == "L"
            assert set(np.unique(np.asarray(trimap))) == {1, 2, 3}, path.name


def test_images_are_rgb_jpegs_of_the_trimap_size(synthetic):
    for path in sorted((synthetic / "images").iterdir()):
        trimap_path = synthetic / "annotations" / "trimaps" / f"{path.stem}.png"
        with Image.open(path) as image, Image.open(trimap_path) as trimap:
            assert (image.format, image.mode) == ("JPEG", "RGB")
            assert image.size == trimap.size
            assert 96 <= min(image.size) and max(image.size) <= 160


def test_split_files_list_every_stem_once(synthetic):
    annotations = synthetic / "annotations"
    stems = _stems(synthetic / "images", ".jpg")
    trainval = read_split_file(annotations / "trainval.txt")
    test = read_split_file(annotations / "test.txt")
    listed = read_split_file(annotations / "list.txt")
    assert sorted(trainval + test) == stems  # each stem once, in one split
    assert len(test) == round(NUM * 0.25) == 2
    assert sorted(listed) == stems and len(listed) == len(set(listed))
    header = [
        line
        for line in (annotations / "list.txt").read_text().splitlines()
        if line.startswith("#")
    ]
    assert header  # list.txt has '#' header lines like the release
    for line in (annotations / "trainval.txt").read_text().splitlines():
        assert len(line.split()) == 4  # "Name CLASS-ID SPECIES BREED-ID"


def test_same_seed_identical_trimap_bytes(synthetic, tmp_path):
    again = make_synthetic_pets(tmp_path / "again", NUM, seed=0)
    other = make_synthetic_pets(tmp_path / "other", NUM, seed=1)
    trimaps = synthetic / "annotations" / "trimaps"
    same, different = 0, 0
    for path in sorted(trimaps.iterdir()):
        assert (
            path.read_bytes()
            == (again / "annotations" / "trimaps" / path.name).read_bytes()
        )
        same += 1
        different += (
            path.read_bytes()
            != (other / "annotations" / "trimaps" / path.name).read_bytes()
        )
    assert same == NUM and different > 0
    for name in ("trainval.txt", "test.txt", "list.txt"):
        assert (synthetic / "annotations" / name).read_text() == (
            again / "annotations" / name
        ).read_text()


def test_returns_root_and_is_rerunnable(tmp_path):
    root = tmp_path / "pets"
    assert make_synthetic_pets(root, 2) == root
    first = (root / "annotations" / "trimaps" / "Synthetic_cat_1.png").read_bytes()
    assert make_synthetic_pets(str(root), 2) == root  # over an existing folder
    assert (
        root / "annotations" / "trimaps" / "Synthetic_cat_1.png"
    ).read_bytes() == first


def test_scan_and_split_accept_synthetic_data(synthetic):
    report = scan_pets(synthetic)
    assert len(report.pairs) == NUM and report.skipped == {}
    splits = split_pairs(report.pairs, synthetic, "official", 0.25, seed=0)
    assert len(splits["test"]) == 2
    assert (len(splits["train"]), len(splits["val"])) == (3, 1)
