"""Find, pair and validate Oxford-IIIT Pet files; resize and cache them in one pass.

Run `python -m utils.data check DIR` to print the validation report of a folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
from typing import NamedTuple

if __name__ == "__main__":
    # Run as a command: load TensorFlow with its start-up log muted before
    # the imports below load it.
    from utils.quiet import start_tensorflow_quietly

    start_tensorflow_quietly()

import tensorflow as tf

from utils.cli import report_errors
from utils.splits import split_pairs

AUTOTUNE = tf.data.AUTOTUNE
SCAN_SIZE = 16  # pixels a side while only validating
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


def printable_name(name: str) -> str:
    """`name` with bytes that are not UTF-8 shown as escapes (e.g. caf\\xe9.jpg)."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def list_files(folder: Path, suffixes: tuple[str, ...]) -> tuple[dict, dict]:
    """Map stem -> path for visible files with a wanted suffix; group the others."""
    found, skipped = {}, {NOT_IMAGE: [], DUPLICATE: [], BAD_NAME: []}
    for path in sorted(folder.iterdir()):
        name = f"{folder.name}/{printable_name(path.name)}"
        if name != f"{folder.name}/{path.name}":
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

    Graph-safe, for tf.data maps; a file that cannot be decoded raises.
    """
    image = decode_image(tf.io.read_file(image_path))
    trimap = tf.io.decode_png(tf.io.read_file(trimap_path), channels=1)
    same_size = tf.reduce_all(tf.shape(image)[:2] == tf.shape(trimap)[:2])
    # Integer values within [1, 3] are exactly {1, 2, 3}; min/max beat unique.
    in_range = (tf.reduce_min(trimap) >= 1) & (tf.reduce_max(trimap) <= 3)
    code = tf.where(same_size, tf.where(in_range, 0, 2), 1)
    return image, trimap, code


def check_pair(pair: Pair) -> str | None:
    """Return why `pair` is unusable, or None when it is valid (eager)."""
    try:
        decode_image(tf.io.read_file(str(pair.image)))
    except (tf.errors.OpError, ValueError):
        return BAD_IMAGE
    try:
        return PROBLEMS[int(read_pair(str(pair.image), str(pair.trimap))[2])]
    except (tf.errors.OpError, ValueError):
        return BAD_TRIMAP


def find_pairs(data_dir: str | Path) -> tuple[list[Pair], dict[str, list[str]]]:
    """Pair image and trimap files by stem, without decoding them.

    Returns the candidate pairs (sorted by stem) and the other files by reason.
    """
    data_dir = Path(data_dir)
    image_dir, trimap_dir = data_dir / "images", data_dir / "annotations" / "trimaps"
    if not image_dir.is_dir() or not trimap_dir.is_dir():
        raise FileNotFoundError(
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
    return pairs, skipped


def pairs_dataset(pairs: list[Pair]) -> tf.data.Dataset:
    """A dataset of (stem, image path, trimap path) strings, one per pair."""
    columns = zip(*[(p.stem, str(p.image), str(p.trimap)) for p in pairs])
    columns = list(columns) or [[], [], []]
    # An explicit string dtype keeps an empty list of pairs valid.
    return tf.data.Dataset.from_tensor_slices(
        tuple(tf.constant(column, tf.string) for column in columns)
    )


def build_report(
    data_dir: str | Path,
    candidates: list[Pair],
    skipped: dict[str, list[str]],
    codes: dict[str, int],
) -> ScanReport:
    """The scan report, given the problem code of every decodable candidate.

    A candidate without a code failed to decode; `check_pair` names the file.
    """
    pairs = []
    for pair in candidates:
        if pair.stem in codes:
            reason = PROBLEMS[codes[pair.stem]]
        else:
            reason = check_pair(pair) or BAD_IMAGE
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
        raise ValueError(
            f"No valid image/trimap pairs in {data_dir}; expected {LAYOUT}. "
            f"Skipped: {reasons or 'no image or trimap files found'}."
        )
    return ScanReport(Path(data_dir), pairs, {k: v for k, v in skipped.items() if v})


def collect_codes(codes: tf.data.Dataset) -> dict[str, int]:
    """Run a dataset of (stem, problem code) elements to a dict stem -> code."""
    return {
        stem.decode(): int(code)
        for stems, batch_codes in codes.batch(256).as_numpy_iterator()
        for stem, code in zip(stems, batch_codes)
    }


def resize_image(image: tf.Tensor, img_size: int) -> tf.Tensor:
    """(H, W, 3) uint8 -> (img_size, img_size, 3) uint8, antialiased bilinear."""
    resized = tf.image.resize(image, (img_size, img_size), antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


def resize_mask(trimap: tf.Tensor, img_size: int) -> tf.Tensor:
    """(H, W, 1) trimap 1..3 -> (img_size, img_size, 1) uint8 class 0..2."""
    # Nearest neighbour keeps labels exact; trimap 1 pet, 2 background,
    # 3 border becomes class 0, 1, 2 so it can index CLASS_NAMES and logits.
    resized = tf.image.resize(trimap, (img_size, img_size), method="nearest")
    return tf.cast(resized, tf.uint8) - 1


def load_example(
    image_path: tf.Tensor, trimap_path: tf.Tensor, img_size: int
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Read one pair: image uint8 (S, S, 3), mask uint8 (S, S, 1), problem code.

    The code is `read_pair`'s (0 when valid); the mask of an invalid pair is
    meaningless.
    """
    image, trimap, code = read_pair(image_path, trimap_path)
    image = resize_image(image, img_size)
    image.set_shape((img_size, img_size, 3))
    return image, resize_mask(trimap, img_size), code


def read_examples(
    pairs: list[Pair], img_size: int, cache: str | None = ""
) -> tf.data.Dataset:
    """Decode, check and resize `pairs` in parallel, cached in memory or a file.

    Elements are (stem, code, image uint8 (S, S, 3), mask uint8 (S, S, 1));
    pairs with a file that cannot be decoded are dropped. `cache` None keeps
    nothing (a pass that only validates).
    """

    def load(stem, image_path, trimap_path):
        image, mask, code = load_example(image_path, trimap_path, img_size)
        return stem, code, image, mask

    ds = pairs_dataset(pairs).map(load, num_parallel_calls=AUTOTUNE)
    ds = ds.ignore_errors()
    return ds if cache is None else ds.cache(cache)


def prepare_examples(
    data_dir: str | Path, img_size: int, cache: str | None = ""
) -> tuple[ScanReport, tf.data.Dataset]:
    """Validate and cache a data folder in one pass: its report and examples.

    Every pair is decoded once: the pass that checks it also fills the cache
    of `read_examples` (see there; None caches nothing) that the datasets of
    `make_dataset` then read.
    """
    candidates, skipped = find_pairs(data_dir)
    examples = read_examples(candidates, img_size, cache)
    found = collect_codes(examples.map(lambda stem, code, image, mask: (stem, code)))
    return build_report(data_dir, candidates, skipped, found), examples


def scan_pets(data_dir: str | Path) -> ScanReport:
    """Pair images and trimaps by stem and decode each pair to validate it."""
    # The report does not depend on the size, and nothing is kept.
    return prepare_examples(data_dir, SCAN_SIZE, cache=None)[0]


@report_errors
def main(argv: list[str] | None = None) -> None:
    """Command line: `python -m utils.data check DIR` prints the scan report."""
    parser = argparse.ArgumentParser(prog="python -m utils.data")
    parser.add_argument("command", choices=["check"])
    parser.add_argument("data_dir")
    args = parser.parse_args(argv)
    report = scan_pets(args.data_dir)
    annotations = report.data_dir / "annotations"
    if (annotations / "trainval.txt").is_file() and (
        annotations / "test.txt"
    ).is_file():
        split_pairs(report.pairs, report.data_dir, skipped=report.skipped)
    print(report.summary())


if __name__ == "__main__":
    main()
