"""Download and safely extract the Oxford-IIIT Pet archives into a local cache."""

from __future__ import annotations

import posixpath
import shutil
import tarfile
import zlib
from pathlib import Path

import keras

from utils.config import ENV_DATA_DIR

PETS_HOME_PAGE = "https://www.robots.ox.ac.uk/~vgg/data/pets/"
# VGG's file server; the old www.../pets/data/ links broke in 2023 and both TFDS
# and the keras-io U-Net example moved here.
PETS_BASE_URL = "https://thor.robots.ox.ac.uk/~vgg/data/pets/"
PETS_ARCHIVES = {
    "images.tar.gz": "5c4f3ee8e5d25df40f4fd59a7f44e54c",
    "annotations.tar.gz": "95a8c909bbe2e81eed6a22bccdf3f68f",
}
DATASET_SUBDIR = "oxford_pets"
MARKER_NAME = ".extracted"

MANUAL_HINT = (
    f"download images.tar.gz and annotations.tar.gz by hand from {PETS_HOME_PAGE}, "
    "extract both into one folder (it then holds images/ and annotations/) and "
    f"set {ENV_DATA_DIR} (or Config.data_dir) to that folder"
)


class DataDownloadError(RuntimeError):
    """The dataset could not be downloaded or extracted; the message says why."""


def _unsafe_reason(member: tarfile.TarInfo, target: Path) -> str | None:
    """Why writing `member` under `target` could escape it, or None if safe.

    Only regular files and folders pass: the release holds no links, and a
    chain of links can resolve outside a folder that each looks inside.
    """
    name = member.name
    if name.startswith(("/", "\\")) or posixpath.isabs(name):
        return "has an absolute path"
    if ".." in name.replace("\\", "/").split("/"):
        return "has a '..' path component"
    if member.issym() or member.islnk():
        return f"is a link (to {member.linkname!r})"
    if member.isdev():
        return "is a device file or FIFO"
    if not (member.isreg() or member.isdir()):
        return "is neither a file nor a folder"
    # Resolving catches links already on disk below the target.
    if not (target / name).resolve().is_relative_to(target):
        return "would be written outside the target folder"
    return None


def _write_member(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    """Write one checked file or folder member under `target` (no tarfile extract)."""
    path = target / member.name
    if member.isdir():
        path.mkdir(parents=True, exist_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with tar.extractfile(member) as source, open(path, "wb") as out:
        shutil.copyfileobj(source, out)


def extract_tar_safely(archive: Path, target: Path) -> None:
    """Extract tar(.gz) `archive` into `target`, refusing any member that escapes.

    Every member is checked before the first one is written.
    """
    archive, target = Path(archive), Path(target).resolve()
    try:
        # "r:*" because the official .tar.gz files are in fact plain tar archives.
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()  # reads the whole index: catches truncation
            for member in members:
                reason = _unsafe_reason(member, target)
                if reason is not None:
                    raise DataDownloadError(
                        f"Refusing to extract {archive}: member {member.name!r} "
                        f"{reason}. The file is damaged or was tampered with; "
                        f"delete it and run again, or {MANUAL_HINT}."
                    )
            target.mkdir(parents=True, exist_ok=True)
            for member in members:
                _write_member(tar, member, target)
    except (tarfile.TarError, EOFError, zlib.error) as err:
        raise DataDownloadError(
            f"{archive} is corrupt or truncated ({type(err).__name__}: {err}); "
            "probably an interrupted download. Delete it and run again, "
            f"or {MANUAL_HINT}."
        ) from err


def _fetch(fname: str, md5: str, base_url: str, cache: Path) -> Path:
    """Download `fname` via keras' get_file (progress bar, cache, md5 check)."""
    url = base_url + fname
    try:
        path = keras.utils.get_file(
            fname=fname,
            origin=url,
            file_hash=md5,
            hash_algorithm="md5",
            cache_dir=str(cache),
            cache_subdir="downloads",
            extract=False,
        )
    except ValueError as err:  # get_file's only ValueError here: md5 mismatch
        # get_file leaves the bad file behind; drop it so a retry starts clean.
        (cache / "downloads" / fname).unlink(missing_ok=True)
        raise DataDownloadError(
            f"{fname} downloaded from {url} does not match its expected md5 {md5} "
            "(corrupt download, or the server's file changed). The bad copy was "
            f"deleted; run again, and if it keeps failing {MANUAL_HINT}."
        ) from err
    except Exception as err:  # get_file turns URLError/HTTPError into Exception
        raise DataDownloadError(
            f"Could not download {fname} from {url}: {err}. Check the internet "
            f"connection (or proxy) and run again, or {MANUAL_HINT}."
        ) from err
    return Path(path)


def download_pets(
    cache_dir: str | Path,
    base_url: str = PETS_BASE_URL,
    extract_dir: str | Path | None = None,
) -> Path:
    """Make `<extract_dir>/oxford_pets/{images,annotations}/` exist; return that root.

    The archives are kept in `<cache_dir>/downloads`; `extract_dir` (default:
    `cache_dir`) receives the extracted files, so the archives can stay on a
    slow persistent disk while the images are read from a fast local one.
    """
    cache = Path(cache_dir).expanduser().resolve()
    root = Path(extract_dir or cache).expanduser().resolve() / DATASET_SUBDIR
    marker = root / MARKER_NAME
    # The marker records which archives were extracted, so changed hashes redo it.
    stamp = "".join(f"{name} {md5}\n" for name, md5 in sorted(PETS_ARCHIVES.items()))
    if marker.is_file() and marker.read_text() == stamp:
        return root
    # get_file silently falls back to /tmp/.keras if cache_dir is not writable
    # yet, so create it first.
    cache.mkdir(parents=True, exist_ok=True)
    for fname, md5 in PETS_ARCHIVES.items():
        archive = _fetch(fname, md5, base_url, cache)
        extract_tar_safely(archive, root)
    # Written last: an interrupted run leaves no marker and is redone next time.
    marker.write_text(stamp)
    return root
