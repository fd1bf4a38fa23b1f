"""The files of the Oxford-IIIT Pet release: pair them by stem, check them, split them.

Every choice of the split is seeded: the same seed, the same split, anywhere."""

from __future__ import annotations

import dataclasses
import io
import os
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import tensorflow as tf
from PIL import Image

from utils.config import ProjectError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
LAYOUT = (
    "DIR/images/<stem>.jpg, DIR/annotations/trimaps/<stem>.png and, for the "
    "official split, DIR/annotations/trainval.txt and DIR/annotations/test.txt"
)
NOT_IMAGE = "ignored: hidden or not an image file"
BAD_IMAGE = "image cannot be decoded"
BAD_TRIMAP = "trimap cannot be decoded"
BAD_VALUES = "trimap has values other than 1, 2, 3"
SIZE_MISMATCH = "image and trimap sizes differ"
NO_TRIMAP = "image without trimap"
NO_IMAGE = "trimap without image"
DUPLICATE = "ignored: a file with the same stem was already paired"
BAD_NAME = "file name is not valid UTF-8"
NOT_LISTED = "valid pair in neither split list (official split)"
LISTED_ABSENT = "listed in a split list, but no such image and trimap"
TOO_LARGE = "image or trimap larger than 40,000,000 pixels (MAX_PIXELS)"
# Decoding needs 3 bytes a pixel and more: refuse larger images from their
# header alone (a 388 KB PNG can claim 20000 x 20000 pixels).
MAX_PIXELS = 40_000_000
# What a problem code of `read_pair` means (0: valid).
PROBLEMS = (None, SIZE_MISMATCH, BAD_VALUES)


class Pair(NamedTuple):
    """One image file and its trimap file, matched by stem."""

    stem: str
    image: Path
    trimap: Path


@dataclasses.dataclass
class ScanReport:
    """Valid pairs of a data folder and every skipped file grouped by reason."""

    data_dir: Path
    pairs: list[Pair]
    skipped: dict[str, list[str]]

    def summary(self) -> str:
        """A printable report: pairs found, then skipped names under each reason."""
        lines = [f"{self.data_dir}: {len(self.pairs)} valid image/trimap pairs"]
        for reason, names in sorted(self.skipped.items()):
            lines.append(f"  skipped, {reason} ({len(names)}): {', '.join(names)}")
        return "\n".join(lines)


def list_files(folder: Path, suffixes: tuple[str, ...]) -> tuple[dict, dict]:
    """Map stem -> path for visible files with a wanted suffix; group the others."""
    found, skipped = {}, {NOT_IMAGE: [], DUPLICATE: [], BAD_NAME: []}
    for path in sorted(folder.iterdir()):
        # Bytes that are not UTF-8 shown as escapes (e.g. caf\xe9.jpg).
        shown = os.fsencode(path.name).decode("utf-8", "backslashreplace")
        name = f"{folder.name}/{shown}"
        if shown != path.name:
            # TensorFlow's string tensors hold only UTF-8 names.
            skipped[BAD_NAME].append(name)
        elif path.name.startswith(".") or path.suffix.lower() not in suffixes:
            skipped[NOT_IMAGE].append(name)
        elif path.stem in found:
            skipped[DUPLICATE].append(name)
        else:
            found[path.stem] = path
    return found, skipped


def decode_image(data: bytes | tf.Tensor) -> tf.Tensor:
    """Decode JPEG/PNG/GIF/BMP bytes by content to (H, W, 3) uint8 RGB."""
    # Some release files named .jpg are PNG (with alpha) or GIF: decode_image
    # sniffs the format; channels=3 drops alpha and expands grey to RGB.
    return tf.io.decode_image(data, channels=3, expand_animations=False)


def read_pair(
    image_path: tf.Tensor | str, trimap_path: tf.Tensor | str
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Decode one pair and check it: image (H, W, 3) uint8, trimap (H, W, 1) uint8,
    and a problem code (int32 index into PROBLEMS, 0 when valid).

    Graph-safe, for tf.data maps; a file that cannot be decoded raises."""
    image = decode_image(tf.io.read_file(image_path))
    data = tf.io.read_file(trimap_path)
    trimap = tf.numpy_function(trimap_values, [data], tf.uint8, stateful=False)
    trimap.set_shape((None, None, 1))
    same_size = tf.reduce_all(tf.shape(image)[:2] == tf.shape(trimap)[:2])
    # Integer values within [1, 3] are exactly {1, 2, 3}; min/max beat unique.
    in_range = (tf.reduce_min(trimap) >= 1) & (tf.reduce_max(trimap) <= 3)
    code = tf.where(same_size, tf.where(in_range, 0, 2), 1)
    return image, trimap, code


def trimap_values(data: bytes) -> np.ndarray:
    """A trimap PNG's stored values as (H, W, 1) uint8, whatever its encoding.

    A palette PNG stores indices and a 16-bit PNG its values as they are;
    TensorFlow's decoder would turn the one into palette colours and scale the
    other, so PIL reads them (values above 255 become 255, still invalid)."""
    # tf.numpy_function passes the file's bytes as a 0-d object array.
    trimap = Image.open(io.BytesIO(np.asarray(data).item()))
    if trimap.mode not in ("L", "P", "I", "I;16", "I;16B"):
        trimap = trimap.convert("L")
    return np.clip(np.asarray(trimap), 0, 255).astype(np.uint8)[..., None]


def too_large(path) -> bool:
    """True when the image header of `path` (or file object) claims more than
    MAX_PIXELS pixels; nothing else of the file is read."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
    except Image.DecompressionBombError:
        return True
    except (OSError, ValueError):
        return False  # not readable by PIL: decoding reports it
    return width * height > MAX_PIXELS


def check_pair(pair: Pair) -> str | None:
    """Return why `pair` is unusable, or None when it is valid (eager)."""
    try:
        decode_image(tf.io.read_file(str(pair.image)))
    except (tf.errors.OpError, ValueError):
        return BAD_IMAGE
    try:
        return PROBLEMS[int(read_pair(str(pair.image), str(pair.trimap))[2])]
    except (tf.errors.OpError, ValueError, OSError):  # OSError: PIL's, eagerly
        return BAD_TRIMAP


def find_pairs(data_dir: str | Path) -> tuple[list[Pair], dict[str, list[str]]]:
    """Candidate pairs by stem (sorted), not decoded, and the other files by reason."""
    data_dir = Path(data_dir)
    image_dir, trimap_dir = data_dir / "images", data_dir / "annotations" / "trimaps"
    if not image_dir.is_dir() or not trimap_dir.is_dir():
        raise ProjectError(
            f"{data_dir} is not an Oxford-IIIT Pet folder: expected {LAYOUT}. "
            "Point the data directory (S18_DATA_DIR) at the extracted release."
        )
    images, skipped = list_files(image_dir, IMAGE_SUFFIXES)
    trimaps, skipped_trimaps = list_files(trimap_dir, (".png",))
    for reason, names in skipped_trimaps.items():
        skipped[reason] += names
    skipped[NO_TRIMAP] = sorted(set(images) - set(trimaps))
    skipped[NO_IMAGE] = sorted(set(trimaps) - set(images))
    pairs = [Pair(s, images[s], trimaps[s]) for s in sorted(images) if s in trimaps]
    large = [p.stem for p in pairs if too_large(p.image) or too_large(p.trimap)]
    skipped[TOO_LARGE] = large
    return [pair for pair in pairs if pair.stem not in large], skipped


def build_report(
    data_dir: str | Path,
    candidates: list[Pair],
    skipped: dict[str, list[str]],
    codes: dict[str, int],
) -> ScanReport:
    """The scan report, given the problem code of every decodable candidate.

    A candidate without a code failed to decode; `check_pair` names the file."""
    pairs = []
    for pair in candidates:
        code = codes.get(pair.stem)
        reason = (check_pair(pair) or BAD_IMAGE) if code is None else PROBLEMS[code]
        if reason:
            skipped.setdefault(reason, []).append(pair.stem)
        else:
            pairs.append(pair)
    if not pairs:
        reasons = "; ".join(
            f"{reason} ({len(names)}: {', '.join(names[:3])}"
            + (", ...)" if len(names) > 3 else ")")
            for reason, names in sorted(skipped.items())
            if names
        )
        raise ProjectError(
            f"No valid image/trimap pairs in {data_dir}; expected {LAYOUT}. "
            f"Skipped: {reasons or 'no image or trimap files found'}."
        )
    return ScanReport(Path(data_dir), pairs, {k: v for k, v in skipped.items() if v})


def parse_split_line(line: str) -> str:
    """The stem of one split-list line: 'Abyssinian_1 1 1 1' -> 'Abyssinian_1'.

    The release follows the stem with three numbers (class, species, breed);
    a stem may itself hold spaces, so only those trailing numbers are cut."""
    words = line.split()
    if len(words) > 3 and all(word.isdigit() for word in words[-3:]):
        return line.strip().rsplit(maxsplit=3)[0]
    return line.strip()


def read_split_file(path: Path) -> list[str]:
    """Stems listed in an annotations split file (one per line, '#' comments)."""
    if not path.is_file():
        raise ProjectError(
            f"{path} is missing: the official split needs it. Use the release's "
            "annotations folder, or the reference split (Config.split='random')."
        )
    lines = path.read_text(errors="backslashreplace").splitlines()
    return [parse_split_line(line) for line in lines if line.strip() and line[0] != "#"]


def split_pairs(
    pairs: list[Pair],
    data_dir: str | Path,
    split: str = "official",
    val_fraction: float = 0.2,
    seed: int = 42,
    max_images: int | None = None,
    skipped: dict[str, list[str]] | None = None,
) -> dict[str, list[Pair]]:
    """Split pairs into train/val/test, deterministically from `seed`.

    'official': test = annotations/test.txt, val = a seeded `val_fraction` of
    trainval.txt, train = the rest. 'random': the reference's protocol, a seeded
    split of all pairs into train and val (no test; evaluate on val).
    `max_images` keeps a seeded subset of the usable pairs before splitting.
    `skipped` (a scan report's) receives what the official split leaves out."""
    rng = np.random.default_rng(seed)
    by_stem = {pair.stem: pair for pair in pairs}
    if split == "official":
        annotations = Path(data_dir) / "annotations"
        trainval = read_split_file(annotations / "trainval.txt")
        test = read_split_file(annotations / "test.txt")
        listed = set(trainval) | set(test)
        usable = sorted(s for s in listed if s in by_stem)
        if skipped is not None:
            report_split_drops(listed, by_stem, skipped)
    elif split == "random":
        usable, test = sorted(by_stem), []
    else:
        raise ProjectError(f"split must be 'official' or 'random', got {split!r}")
    if max_images and max_images < len(usable):
        usable = sorted(rng.choice(usable, max_images, replace=False))
    test_set = set(test)
    held_out = [s for s in usable if s in test_set]
    rest = [s for s in usable if s not in test_set]
    rest = [rest[i] for i in rng.permutation(len(rest))]
    num_val = val_count(len(rest), val_fraction)
    names = {"train": rest[num_val:], "val": rest[:num_val], "test": held_out}
    return {key: [by_stem[s] for s in sorted(stems)] for key, stems in names.items()}


def val_count(count: int, val_fraction: float) -> int:
    """How many of `count` shuffled pairs validate: `val_fraction` of them, rounded."""
    return int(round(count * val_fraction))


def report_split_drops(
    listed: set[str], by_stem: dict[str, Pair], skipped: dict[str, list[str]]
) -> None:
    """Add to `skipped` the valid pairs in no split list and the listed stems
    with no files at all (listed stems with broken files are reported already)."""
    # Skipped files are named "images/<stem>.jpg" or by stem.
    known = {Path(n).stem if "/" in n else n for ns in skipped.values() for n in ns}
    absent = sorted(s for s in listed - set(by_stem) if s not in known)
    unlisted = sorted(set(by_stem) - listed)
    for reason, stems in ((LISTED_ABSENT, absent), (NOT_LISTED, unlisted)):
        if stems:
            skipped[reason] = sorted(set(skipped.get(reason, [])) | set(stems))


def subset_train(pairs: list[Pair], count: int | None, seed: int) -> list[Pair]:
    """A seeded subset of `count` training pairs; smaller counts nest in larger."""
    if count is None or count >= len(pairs):
        return pairs
    keep = np.random.default_rng(seed).permutation(len(pairs))[:count]
    return [pairs[i] for i in sorted(keep)]


def stats_pairs(pairs: list[Pair], count: int, seed: int) -> list[Pair]:
    """Up to `count` training pairs in a fixed, seeded order (BatchNorm statistics)."""
    order = np.random.default_rng(seed).permutation(len(pairs))[:count]
    return [pairs[i] for i in order]
