"""Offline tests of utils/download.py: caching, error messages, safe extraction."""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import tarfile
from pathlib import Path

import pytest

from utils import download, pipeline
from utils.config import Config
from utils.download import (
    DataDownloadError,
    download_pets,
    extract_tar_safely,
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
    monkeypatch.setattr(download, "PETS_ARCHIVES", hashes)
    return src


def test_download_extracts_and_marks(source: Path, tmp_path: Path) -> None:
    root = download_pets(tmp_path / "cache", base_url=source.as_uri() + "/")

    assert root == (tmp_path / "cache" / "oxford_pets").resolve()
    assert (root / "images" / "a.jpg").read_bytes() == IMAGE_BYTES
    assert (root / "annotations" / "trimaps" / "a.png").read_bytes() == TRIMAP_BYTES
    assert (root / download.MARKER_NAME).is_file()
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
    monkeypatch.setattr(download.keras.utils, "get_file", forbidden)
    monkeypatch.setattr(download, "extract_tar_safely", forbidden)
    second = download_pets(cache, base_url=source.as_uri() + "/")

    assert second == first
    assert (second / "images" / "a.jpg").read_bytes() == IMAGE_BYTES


def test_wrong_hash_names_file_and_remedy(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(download.PETS_ARCHIVES, "images.tar.gz", "0" * 32)
    cache = tmp_path / "cache"

    with pytest.raises(DataDownloadError) as info:
        download_pets(cache, base_url=source.as_uri() + "/")

    message = str(info.value)
    assert "images.tar.gz" in message and "md5" in message
    assert download.PETS_HOME_PAGE in message and "S18_DATA_DIR" in message
    assert not (cache / "downloads" / "images.tar.gz").exists()
    assert not (cache / "oxford_pets" / download.MARKER_NAME).exists()


def test_missing_url_is_one_clear_error(source: Path, tmp_path: Path) -> None:
    base_url = (tmp_path / "nowhere").as_uri() + "/"

    with pytest.raises(DataDownloadError) as info:
        download_pets(tmp_path / "cache", base_url=base_url)

    message = str(info.value)
    assert base_url + "images.tar.gz" in message
    assert "by hand" in message and download.PETS_HOME_PAGE in message


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

    with pytest.raises(DataDownloadError) as info:
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

    with pytest.raises(DataDownloadError, match="member 'a' is a link"):
        extract_tar_safely(archive, tmp_path / "box" / "t")

    assert outside.read_text() == "keep me"
    assert _snapshot(tmp_path) == before


def test_extract_refuses_a_link_already_in_the_target(tmp_path: Path) -> None:
    archive = _make_tar(tmp_path / "ok.tar.gz", {"images/a.jpg": b"new"})
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "images").symlink_to(tmp_path / "elsewhere")

    with pytest.raises(DataDownloadError, match="outside the target folder"):
        extract_tar_safely(archive, tmp_path / "out")

    assert not (tmp_path / "elsewhere" / "a.jpg").exists()


def test_truncated_archive_is_reported(tmp_path: Path) -> None:
    good = _make_tar(tmp_path / "good.tar.gz", {"images/a.jpg": os.urandom(20000)})
    archive = tmp_path / "images.tar.gz"
    archive.write_bytes(good.read_bytes()[: good.stat().st_size // 2])

    with pytest.raises(DataDownloadError) as info:
        extract_tar_safely(archive, tmp_path / "out")

    assert "images.tar.gz" in str(info.value) and "Delete it" in str(info.value)


def test_extract_dir_receives_the_files_and_cache_keeps_the_archives(
    source: Path, tmp_path: Path
) -> None:
    cache, local = tmp_path / "drive" / "data", tmp_path / "content" / "data"
    root = download_pets(cache, base_url=source.as_uri() + "/", extract_dir=local)
    assert root == (local / "oxford_pets").resolve()
    assert (root / "images" / "a.jpg").read_bytes() == IMAGE_BYTES
    assert (root / download.MARKER_NAME).is_file()
    assert _snapshot(cache) == {
        "downloads",
        "downloads/images.tar.gz",
        "downloads/annotations.tar.gz",
    }


def test_locate_data_passes_the_extract_dir(monkeypatch, tmp_path: Path) -> None:
    calls = []
    monkeypatch.setattr(
        download, "download_pets", lambda *args, **kw: calls.append((args, kw))
    )
    config = Config(cache_dir=str(tmp_path / "a"), extract_dir=str(tmp_path / "b"))
    pipeline.locate_data(config)
    assert calls == [((config.cache_dir,), {"extract_dir": config.extract_dir})]
