"""Which pairs go where: the official or random split, training subsets.

Every choice is seeded, so the same seed gives the same split on any machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from utils.data import Pair

NOT_LISTED = "valid pair in neither split list (official split)"
LISTED_ABSENT = "listed in a split list, but no such image and trimap"


def parse_split_line(line: str) -> str:
    """The stem of one split-list line: 'Abyssinian_1 1 1 1' -> 'Abyssinian_1'.

    The release follows the stem with three numbers (class, species, breed);
    a stem may itself hold spaces, so only those trailing numbers are cut.
    """
    words = line.split()
    if len(words) > 3 and all(word.isdigit() for word in words[-3:]):
        return line.strip().rsplit(maxsplit=3)[0]
    return line.strip()


def read_split_file(path: Path) -> list[str]:
    """Stems listed in an annotations split file (one per line, '#' comments)."""
    if not path.is_file():
        raise FileNotFoundError(
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
    `skipped` (a scan report's) receives what the official split leaves out.
    """
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
        raise ValueError(f"split must be 'official' or 'random', got {split!r}")
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
    known = {name for names in skipped.values() for name in names}
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
