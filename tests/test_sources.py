"""utils/sources.py, offline: the download's caching, error messages and safe
extraction; the synthetic stand-in's layout and values; where a config's data is."""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from utils import sources
from utils.config import Config, ProjectError, fast_config
from utils.data import read_split_file, split_pairs
from utils.pipeline import scan_pets
from utils.sources import (
    download_pets,
    extract_tar_safely,
    locate_data,
    make_synthetic_pets,
)

IMAGE_BYTES = b"\xff\xd8fake jpeg"
TRIMAP_BYTES = b"\x89PNGfake png"


def _add(tar: tarfile.TarFile, name: str, data: bytes = b"x", **attrs) -> None:
    """Add one member `name` (a regular file unless `attrs` say otherwise)."""
    info = tarfile.TarInfo(name)
    info.size = len(data) if "type" not in attrs else 0
    for key, value in attrs.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if info.isreg() else None)


def _make_tar(path: Path, files: dict[str, bytes]) -> Path:
    """Write a tar.gz at `path` holding `files` (member name -> bytes)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            _add(tar, name, data)
    return path


def _md5(path: Path) -> str:
    """Hex md5 of the file at `path`."""
    return hashlib.md5(path.read_bytes()).hexdigest()


def _snapshot(folder: Path) -> set[str]:
    """Every path below `folder`, relative, to see what an extraction wrote."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder standing in for the server, with both archives and their md5s."""
    src = tmp_path / "server"
    src.mkdir()
    images = _make_tar(src / "images.tar.gz", {"images/a.jpg": IMAGE_BYTES})
    annotations = _make_tar(
        src / "annotations.tar.gz", {"annotations/trimaps/a.png": TRIMAP_BYTES}
    )
    hashes = {"images.tar.gz": _md5(images), "annotations.tar.gz": _md5(annotations)}
    monkeypatch.setattr(sources, "PETS_ARCHIVES", hashes)
    return src


def test_download_extracts_and_marks(source: Path, tmp_path: Path) -> None:
    root = download_pets(tmp_path / "cache", base_url=source.as_uri() + "/")

    assert root == (tmp_path / "cache" / "oxford_pets").resolve()
    assert (root / "images" / "a.jpg").read_bytes() == IMAGE_BYTES
    assert (root / "annotations" / "trimaps" / "a.png").read_bytes() == TRIMAP_BYTES
    assert (root / sources.MARKER_NAME).is_file()
    assert (tmp_path / "cache" / "downloads" / "images.tar.gz").is_file()


def test_second_call_neither_downloads_nor_extracts(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = str(tmp_path / "cache")  # str works as well as Path
    first = download_pets(cache, base_url=source.as_uri() + "/")

    def forbidden(*args, **kwargs):
        raise AssertionError("called again although the marker is present")

    for archive in source.iterdir():
        archive.unlink()
    monkeypatch.setattr(sources.keras.utils, "get_file", forbidden)
    monkeypatch.setattr(sources, "extract_tar_safely", forbidden)
    second = download_pets(cache, base_url=source.as_uri() + "/")

    assert second == first
    assert (second / "images" / "a.jpg").read_bytes() == IMAGE_BYTES


def test_wrong_hash_names_file_and_remedy(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sources.PETS_ARCHIVES, "images.tar.gz", "0" * 32)
    cache = tmp_path / "cache"

    with pytest.raises(ProjectError) as info:
        download_pets(cache, base_url=source.as_uri() + "/")

    message = str(info.value)
    assert "images.tar.gz" in message and "md5" in message
    assert sources.PETS_HOME_PAGE in message and "S18_DATA_DIR" in message
    assert not (cache / "downloads" / "images.tar.gz").exists()
    assert not (cache / "oxford_pets" / sources.MARKER_NAME).exists()


def test_missing_url_is_one_clear_error(source: Path, tmp_path: Path) -> None:
    base_url = (tmp_path / "nowhere").as_uri() + "/"

    with pytest.raises(ProjectError) as info:
        download_pets(tmp_path / "cache", base_url=base_url)

    message = str(info.value)
    assert base_url + "images.tar.gz" in message
    assert "by hand" in message and sources.PETS_HOME_PAGE in message


EVIL_MEMBERS = {
    "dotdot": ("../evil.txt", {}),
    "absolute": ("/abs.txt", {}),
    "symlink": ("link", {"type": tarfile.SYMTYPE, "linkname": "../../etc/passwd"}),
    "hardlink": ("hard", {"type": tarfile.LNKTYPE, "linkname": "../outside.txt"}),
    "device": ("dev", {"type": tarfile.CHRTYPE, "devmajor": 1, "devminor": 3}),
    "fifo": ("pipe", {"type": tarfile.FIFOTYPE}),
    "symlink inside": ("images/l", {"type": tarfile.SYMTYPE, "linkname": "ok.jpg"}),
    "hardlink inside": ("images/h", {"type": tarfile.LNKTYPE, "linkname": "ok.jpg"}),
}


@pytest.mark.parametrize("name, attrs", EVIL_MEMBERS.values(), ids=EVIL_MEMBERS)
def test_extract_refuses_escaping_members(
    tmp_path: Path, name: str, attrs: dict
) -> None:
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        _add(tar, "images/ok.jpg")  # harmless member first: must not be written
        _add(tar, name, **attrs)
    box = tmp_path / "box"  # target sits two levels down so "../.." stays in box
    target = box / "data" / "target"
    target.parent.mkdir(parents=True)
    before = _snapshot(tmp_path)

    with pytest.raises(ProjectError) as info:
        extract_tar_safely(archive, target)

    assert "evil.tar.gz" in str(info.value) and repr(name) in str(info.value)
    assert _snapshot(tmp_path) == before
    assert not Path("/abs.txt").exists()


def _add_link_chain(tar: tarfile.TarFile, escape_name: str) -> None:
    """The CVE-2025-4517 pattern: symlinks that each resolve inside the target,
    chained past PATH_MAX so `os.path.realpath` stops resolving, and a last link
    `escape_name` that really points two folders above the target."""
    long_name, steps, path = "d" * 247, "abcdefghijklmnop", ""
    for step in steps:
        _add(tar, posixpath.join(path, long_name), type=tarfile.DIRTYPE)
        _add(tar, posixpath.join(path, step), type=tarfile.SYMTYPE, linkname=long_name)
        path = posixpath.join(path, long_name)
    link = posixpath.join(*steps, "l" * 254)
    _add(tar, link, type=tarfile.SYMTYPE, linkname="../" * len(steps))
    _add(tar, escape_name, type=tarfile.SYMTYPE, linkname=link + "/../..")


def test_extract_refuses_a_long_symlink_chain_before_writing(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    archive = tmp_path / "chain.tar"
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, "images/ok.jpg")
        _add_link_chain(tar, "escape")
        _add(tar, "escape/outside.txt", b"overwritten")
    (tmp_path / "box").mkdir()
    before = _snapshot(tmp_path)

    with pytest.raises(ProjectError, match="member 'a' is a link"):
        extract_tar_safely(archive, tmp_path / "box" / "t")

    assert outside.read_text() == "keep me"
    assert _snapshot(tmp_path) == before


def test_extract_refuses_a_link_already_in_the_target(tmp_path: Path) -> None:
    archive = _make_tar(tmp_path / "ok.tar.gz", {"images/a.jpg": b"new"})
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "images").symlink_to(tmp_path / "elsewhere")

    with pytest.raises(ProjectError, match="outside the target folder"):
        extract_tar_safely(archive, tmp_path / "out")

    assert not (tmp_path / "elsewhere" / "a.jpg").exists()


def test_truncated_archive_is_reported(tmp_path: Path) -> None:
    good = _make_tar(tmp_path / "good.tar.gz", {"images/a.jpg": os.urandom(20000)})
    archive = tmp_path / "images.tar.gz"
    archive.write_bytes(good.read_bytes()[: good.stat().st_size // 2])

    with pytest.raises(ProjectError) as info:
        extract_tar_safely(archive, tmp_path / "out")

    assert "images.tar.gz" in str(info.value) and "Delete it" in str(info.value)


def test_damaged_member_header_is_reported_not_cut_short(tmp_path: Path) -> None:
    archive = tmp_path / "images.tar"
    with tarfile.open(archive, "w", format=tarfile.USTAR_FORMAT) as tar:
        _add(tar, "images/a.jpg", b"a" * 512)
        _add(tar, "images/b.jpg", b"b" * 512)
    raw = bytearray(archive.read_bytes())
    # The second header starts after the first header and its one data block;
    # a wrong checksum there made tarfile list one member and stop silently.
    raw[1024 + 148 : 1024 + 156] = b"1234567\0"
    archive.write_bytes(bytes(raw))

    with pytest.raises(ProjectError, match="corrupt or truncated"):
        extract_tar_safely(archive, tmp_path / "out")

    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "members, reason",
    [
        ({"images": b"x", "images/a.jpg": b"y"}, "lies inside 'images', a file"),
        ({"images/a.jpg/": None, "images/a.jpg": b"y"}, "is a file where a folder is"),
    ],
    ids=["file-then-child", "folder-and-file"],
)
def test_extract_refuses_a_file_and_a_folder_of_one_name(
    tmp_path: Path, members: dict, reason: str
) -> None:
    archive = tmp_path / "clash.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in members.items():
            if data is None:
                _add(tar, name, type=tarfile.DIRTYPE)
            else:
                _add(tar, name, data)

    with pytest.raises(ProjectError, match=reason):
        extract_tar_safely(archive, tmp_path / "out")

    assert not (tmp_path / "out").exists()


def test_extract_dir_receives_the_files_and_cache_keeps_the_archives(
    source: Path, tmp_path: Path
) -> None:
    cache, local = tmp_path / "drive" / "data", tmp_path / "content" / "data"
    root = download_pets(cache, base_url=source.as_uri() + "/", extract_dir=local)
    assert root == (local / "oxford_pets").resolve()
    assert (root / "images" / "a.jpg").read_bytes() == IMAGE_BYTES
    assert (root / sources.MARKER_NAME).is_file()
    assert _snapshot(cache) == {
        "downloads",
        "downloads/images.tar.gz",
        "downloads/annotations.tar.gz",
    }


# --------------------------------------------------------------------------
# locate_data: where a config's images come from.
# --------------------------------------------------------------------------


def test_locate_data_passes_the_extract_dir(monkeypatch, tmp_path: Path) -> None:
    calls = []
    monkeypatch.setattr(
        sources, "download_pets", lambda *args, **kw: calls.append((args, kw))
    )
    config = Config(cache_dir=str(tmp_path / "a"), extract_dir=str(tmp_path / "b"))
    locate_data(config)
    assert calls == [((config.cache_dir,), {"extract_dir": config.extract_dir})]


def test_locate_data_fast_writes_synthetic_folder(tmp_path):
    config = fast_config(cache_dir=str(tmp_path), max_images=6, img_size=32)
    root = locate_data(config)
    assert root == tmp_path / "synthetic_pets_6"
    assert len(list((root / "images").glob("*.jpg"))) == 6
    assert len(list((root / "annotations" / "trimaps").glob("*.png"))) == 6


def test_locate_data_uses_data_dir_when_not_fast(tmp_path):
    config = fast_config(
        fast=False, data_dir=str(tmp_path / "mine"), cache_dir=str(tmp_path)
    )
    assert locate_data(config) == tmp_path / "mine"


# --------------------------------------------------------------------------
# The synthetic stand-in: the release's layout and values.
# --------------------------------------------------------------------------

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
