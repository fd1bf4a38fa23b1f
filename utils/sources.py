"""Where the images come from: the official release, downloaded and safely
extracted, or tiny synthetic pets.

The synthetic pets (fast mode, tests) have the release's layout: images/*.jpg,
annotations/trimaps/*.png (1 = pet, 2 = background, 3 = border) and the
trainval/test/list files, so the real loading code runs unchanged on them."""

from __future__ import annotations

import gzip
import posixpath
import shutil
import tarfile
import zlib
from pathlib import Path

import keras
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from utils.config import Config, ProjectError

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
    "set S18_DATA_DIR (or Config.data_dir) to that folder"
)
BREEDS = ("Synthetic_cat", "synthetic_dog")
BORDER_PX = 2


def _unsafe_reason(member: tarfile.TarInfo, target: Path) -> str | None:
    """Why writing `member` under `target` could escape it, or None if safe.

    Only regular files and folders pass: the release holds no links, and a
    chain of links can resolve outside a folder that each looks inside."""
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


def _conflict(members: list[tarfile.TarInfo], target: Path) -> tuple[str, str] | None:
    """(name, why) of a member that a folder and a file would both claim, or None.

    Checked before any write, so a refused archive leaves nothing half-written."""
    folders = {m.name.rstrip("/") for m in members if m.isdir()}
    files = {m.name for m in members if m.isreg()}
    for member in members:
        parents = {str(p) for p in Path(member.name).parents if str(p) != "."}
        if clash := sorted(parents & files):
            return member.name, f"lies inside {clash[0]!r}, a file of the archive"
        path = target / member.name
        if member.isreg() and (member.name in folders or path.is_dir()):
            return member.name, "is a file where a folder is"
        if any(p.is_file() for p in path.parents if p.is_relative_to(target)):
            return member.name, "lies under a file already on disk"
    return None


def extract_tar_safely(archive: Path, target: Path) -> None:
    """Extract tar(.gz) `archive` into `target` once no member is found to escape."""
    archive, target = Path(archive), Path(target).resolve()
    try:
        # "r:*" because the official .tar.gz files are in fact plain tar archives.
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()  # reads the whole index: catches truncation
            # tarfile ends its member list silently at a damaged header: only
            # padding may follow. Reading to the end also checks a gzip CRC.
            tar.fileobj.seek(tar.offset)
            while chunk := tar.fileobj.read(1 << 20):
                if chunk.strip(b"\0"):
                    damaged = "a damaged member header stops the archive early"
                    raise tarfile.ReadError(damaged)
            reasons = [(m.name, _unsafe_reason(m, target)) for m in members]
            refused = [p for p in reasons if p[1]] or [_conflict(members, target)]
            if refused[0] is not None:
                name, reason = refused[0]
                raise ProjectError(
                    f"Refusing to extract {archive}: member {name!r} {reason}. The "
                    "file is damaged or was tampered with; delete it and run "
                    f"again, or {MANUAL_HINT}."
                )
            target.mkdir(parents=True, exist_ok=True)
            for member in members:  # written by hand, not by tarfile's extract
                path = target / member.name
                if member.isdir():
                    path.mkdir(parents=True, exist_ok=True)
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as source, open(path, "wb") as out:
                    shutil.copyfileobj(source, out)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise ProjectError(
            f"{archive} is corrupt or truncated ({type(err).__name__}: {err}); "
            "probably an interrupted download. Delete it and run again, "
            f"or {MANUAL_HINT}."
        ) from err


def _fetch(fname: str, md5: str, base_url: str, cache: Path) -> Path:
    """Download `fname` via keras' get_file (progress bar, cache, md5 check)."""
    url = base_url + fname
    download = dict(fname=fname, origin=url, file_hash=md5, hash_algorithm="md5")
    download |= dict(cache_dir=str(cache), cache_subdir="downloads", extract=False)
    try:
        path = keras.utils.get_file(**download)
    except ValueError as err:  # get_file's only ValueError here: md5 mismatch
        # get_file leaves the bad file behind; drop it so a retry starts clean.
        (cache / "downloads" / fname).unlink(missing_ok=True)
        raise ProjectError(
            f"{fname} downloaded from {url} does not match its expected md5 {md5} "
            "(corrupt download, or the server's file changed). The bad copy was "
            f"deleted; run again, and if it keeps failing {MANUAL_HINT}."
        ) from err
    except Exception as err:  # get_file turns URLError/HTTPError into Exception
        raise ProjectError(
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
    slow persistent disk while the images are read from a fast local one."""
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


def locate_data(config: Config) -> Path:
    """The data folder a config asks for: synthetic, local, or downloaded."""
    if config.fast:
        count = config.max_images or 256
        root = Path(config.cache_dir) / f"synthetic_pets_{count}"
        return make_synthetic_pets(root, count, seed=config.split_seed)
    if config.data_dir:
        return Path(config.data_dir)
    return download_pets(config.cache_dir, extract_dir=config.extract_dir)


def make_example(rng: np.random.Generator) -> tuple[Image.Image, Image.Image]:
    """One synthetic photo (RGB) and its trimap ('L', values 1, 2, 3)."""
    size = width, height = int(rng.integers(96, 161)), int(rng.integers(96, 161))
    # A textured background: a colour gradient plus noise.
    ramp = np.linspace(0.0, 1.0, width)[None, :, None]
    start, end = rng.uniform(40, 215, (2, 3))
    rgb = start + (end - start) * ramp + rng.normal(0, 18, (height, width, 3))
    background = np.clip(rgb, 0, 255).astype(np.uint8)
    # The pet: a random ellipse or polygon.
    shape = Image.new("L", size, 0)
    draw = ImageDraw.Draw(shape)
    cx, cy = rng.uniform(0.35, 0.65) * width, rng.uniform(0.35, 0.65) * height
    rx, ry = rng.uniform(0.18, 0.32) * width, rng.uniform(0.18, 0.32) * height
    if rng.random() < 0.5:
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
    else:
        angles = np.sort(rng.uniform(0, 2 * np.pi, 7))
        radii = rng.uniform(0.6, 1.0, 7)
        points = [
            (cx + rx * r * np.cos(a), cy + ry * r * np.sin(a))
            for a, r in zip(angles, radii)
        ]
        draw.polygon(points, fill=255)
    inside = np.asarray(shape) > 0
    # Striped fur in a colour far from the background keeps the task learnable.
    stripes = (np.indices(inside.shape).sum(axis=0) // 4) % 2
    fur = 255 - background.mean(axis=(0, 1))
    pet = fur * (0.75 + 0.25 * stripes[..., None])
    photo = np.where(inside[..., None], pet, background).astype(np.uint8)
    grown = np.asarray(shape.filter(ImageFilter.MaxFilter(2 * BORDER_PX + 1))) > 0
    shrunk = np.asarray(shape.filter(ImageFilter.MinFilter(2 * BORDER_PX + 1))) > 0
    # As in the release, the border band straddles the outline of the pet.
    trimap = np.full(inside.shape, 2, np.uint8)
    trimap[grown] = 3
    trimap[shrunk] = 1
    return Image.fromarray(photo), Image.fromarray(trimap)


def make_synthetic_pets(
    root: str | Path, num_images: int = 48, seed: int = 0, test_fraction: float = 0.25
) -> Path:
    """Write `num_images` synthetic pairs in the official layout under `root`."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / "trimaps").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = []
    for index in range(num_images):
        breed_id = index % len(BREEDS)
        stem = f"{BREEDS[breed_id]}_{index + 1}"
        photo, trimap = make_example(rng)
        photo.save(root / "images" / f"{stem}.jpg", quality=90)
        trimap.save(root / "annotations" / "trimaps" / f"{stem}.png")
        lines.append(f"{stem} {breed_id + 1} {breed_id + 1} 1")
    num_test = int(round(num_images * test_fraction))
    write_lines(root / "annotations" / "test.txt", lines[:num_test])
    write_lines(root / "annotations" / "trainval.txt", lines[num_test:])
    header = ["#Image CLASS-ID SPECIES BREED ID", "#synthetic data"]
    write_lines(root / "annotations" / "list.txt", header + lines)
    return root


def write_lines(path: Path, lines: list[str]) -> None:
    """Write text lines with a trailing newline."""
    path.write_text("".join(line + "\n" for line in lines))
