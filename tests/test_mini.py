"""tools.mini rebuilds the 414-pair slice from archives in the release's layout."""

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.fixtures import REAL_MINI
from tools import mini
from utils.config import ProjectError

HEADER = ["#Image CLASS-ID SPECIES BREED ID", "#SPECIES: 1:Cat 2:Dog"]


def png(value: int) -> bytes:
    """A 4x4 grey PNG of one value."""
    buffer = io.BytesIO()
    Image.fromarray(np.full((4, 4), value, np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    """Add one regular file member."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_release(folder: Path, stems: list[str]) -> Path:
    """images.tar.gz and annotations.tar.gz as the release lays them out.

    As in the release, every stem is in a split list: the slice's own, and
    for the slice's "none" stems (and any other), one of the two alternately.
    """
    folder.mkdir()
    with tarfile.open(folder / "images.tar.gz", "w:gz") as tar:
        for index, stem in enumerate(stems):
            add(tar, f"images/{stem}.jpg", png(index % 200))
    where = mini.read_stems()
    lists = {"trainval": [], "test": []}
    for index, stem in enumerate(stems):
        listed = where.get(stem, "none")
        lists[listed if listed != "none" else ("trainval", "test")[index % 2]] += [stem]
    with tarfile.open(folder / "annotations.tar.gz", "w:gz") as tar:
        for stem in stems:
            add(tar, f"annotations/trimaps/{stem}.png", png(2))
        rows = [f"{stem} 1 1 1" for stem in stems]
        add(tar, "annotations/list.txt", "\n".join(HEADER + rows).encode())
        for name, listed in lists.items():
            text = "".join(f"{stem} 1 1 1\n" for stem in listed)
            add(tar, f"annotations/{name}.txt", text.encode())
        add(tar, "annotations/README", b"the release's README\n")
    return folder


def test_committed_list_names_414_pairs_in_both_lists_or_neither():
    stems = mini.read_stems()
    assert len(stems) == 414
    assert set(stems.values()) == {"trainval", "test", "none"}


def test_builds_the_slice_from_release_archives(tmp_path):
    stems = mini.read_stems()
    extra = ["beagle_9001", "Bengal_9002"]  # in the release, not in the slice
    archives = write_release(tmp_path / "release", sorted(stems) + extra)
    out = tmp_path / "mini"
    mini.main(["--archives", str(archives), "--out", str(out)])
    images = sorted(path.stem for path in (out / "images").iterdir())
    trimaps = sorted(path.stem for path in (out / "annotations/trimaps").iterdir())
    assert images == trimaps == sorted(stems)
    annotations = out / "annotations"
    listed = annotations.joinpath("list.txt").read_text().splitlines()
    assert listed[:2] == HEADER and len(listed) == 2 + 414
    for name in ("trainval", "test"):
        rows = annotations.joinpath(f"{name}.txt").read_text().splitlines()
        kept = {row.split()[0] for row in rows}
        assert kept == {stem for stem, where in stems.items() if where == name}
    assert (annotations / "README").read_text() == "the release's README\n"


def test_a_release_without_a_listed_pair_is_refused(tmp_path):
    stems = mini.read_stems()
    archives = write_release(tmp_path / "release", sorted(stems)[1:])
    with pytest.raises(SystemExit):
        mini.main(["--archives", str(archives), "--out", str(tmp_path / "mini")])
    with pytest.raises(ProjectError, match=f"{sorted(stems)[0]}.jpg is missing"):
        mini.build_mini(tmp_path / "nowhere", tmp_path / "out", stems)


@pytest.mark.real_data
def test_committed_list_matches_the_real_slice():
    on_disk = {path.stem for path in (REAL_MINI / "images").iterdir()}
    assert set(mini.read_stems()) == on_disk
    for name in ("trainval", "test"):
        rows = (REAL_MINI / "annotations" / f"{name}.txt").read_text().split("\n")
        listed = {row.split()[0] for row in rows if row.strip()}
        assert listed == {s for s, where in mini.read_stems().items() if where == name}
