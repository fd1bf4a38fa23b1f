"""Find, validate, pair and split Oxford-IIIT Pet files (official layout).

Run `python -m utils.data check DIR` to print the validation report of a folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
TRIMAP_VALUES = (1, 2, 3)
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
    found, skipped = {}, {NOT_IMAGE: [], DUPLICATE: []}
    for path in sorted(folder.iterdir()):
        name = f"{folder.name}/{path.name}"
        if path.name.startswith(".") or path.suffix.lower() not in suffixes:
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


def check_pair(pair: Pair) -> str | None:
    """Return why `pair` is unusable, or None when it is valid."""
    try:
        image = decode_image(tf.io.read_file(str(pair.image)))
    except (tf.errors.OpError, ValueError):
        return BAD_IMAGE
    try:
        trimap = tf.io.decode_png(tf.io.read_file(str(pair.trimap)), channels=1)
    except (tf.errors.OpError, ValueError):
        return BAD_TRIMAP
    if image.shape[:2] != trimap.shape[:2]:
        return SIZE_MISMATCH
    if not set(np.unique(trimap.numpy())) <= set(TRIMAP_VALUES):
        return BAD_VALUES
    return None


def scan_pets(data_dir: str | Path, workers: int = 4) -> ScanReport:
    """Pair images and trimaps by stem and decode each pair to validate it."""
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
    candidates = [
        Pair(s, images[s], trimaps[s]) for s in sorted(images) if s in trimaps
    ]
    with ThreadPoolExecutor(workers) as pool:
        reasons = list(pool.map(check_pair, candidates))
    for pair, reason in zip(candidates, reasons):
        if reason:
            skipped.setdefault(reason, []).append(pair.stem)
    pairs = [pair for pair, reason in zip(candidates, reasons) if reason is None]
    if not pairs:
        raise ValueError(
            f"No valid image/trimap pairs in {data_dir}; expected {LAYOUT}."
        )
    return ScanReport(data_dir, pairs, {k: v for k, v in skipped.items() if v})


def read_split_file(path: Path) -> list[str]:
    """Stems listed in an annotations split file (first word per line, no '#')."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: the official split needs it. Use the release's "
            "annotations folder, or the reference split (Config.split='random')."
        )
    lines = path.read_text().splitlines()
    return [line.split()[0] for line in lines if line.strip() and line[0] != "#"]


def split_pairs(
    pairs: list[Pair],
    data_dir: str | Path,
    split: str = "official",
    val_fraction: float = 0.2,
    seed: int = 42,
    max_images: int | None = None,
) -> dict[str, list[Pair]]:
    """Split pairs into train/val/test, deterministically from `seed`.

    'official': test = annotations/test.txt, val = a seeded `val_fraction` of
    trainval.txt, train = the rest. 'random': the reference's protocol, a seeded
    split of all pairs into train and val (no test; evaluate on val).
    `max_images` keeps a seeded subset of the usable pairs before splitting.
    """
    rng = np.random.default_rng(seed)
    by_stem = {pair.stem: pair for pair in pairs}
    if split == "official":
        annotations = Path(data_dir) / "annotations"
        trainval = read_split_file(annotations / "trainval.txt")
        test = read_split_file(annotations / "test.txt")
        usable = sorted(s for s in set(trainval) | set(test) if s in by_stem)
    elif split == "random":
        usable, test = sorted(by_stem), []
    else:
        raise ValueError(f"split must be 'official' or 'random', got {split!r}")
    if max_images and max_images < len(usable):
        usable = sorted(rng.choice(usable, max_images, replace=False))
    test_set = set(test)
    held_out = [s for s in usable if s in test_set]
    rest = [s for s in usable if s not in test_set]
    rest = [rest[i] for i in rng.permutation(len(rest))]
    num_val = int(round(len(rest) * val_fraction))
    names = {"train": rest[num_val:], "val": rest[:num_val], "test": held_out}
    return {key: [by_stem[s] for s in sorted(stems)] for key, stems in names.items()}


def main(argv: list[str] | None = None) -> None:
    """Command line: `python -m utils.data check DIR` prints the scan report."""
    parser = argparse.ArgumentParser(prog="python -m utils.data")
    parser.add_argument("command", choices=["check"])
    parser.add_argument("data_dir")
    args = parser.parse_args(argv)
    try:
        print(scan_pets(args.data_dir).summary())
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    main()
