"""Shared builders for the data tests: tiny image files and a trap-filled folder.

`build_trap_folder` writes, in the official Oxford-IIIT Pet layout, a handful of
valid pairs plus every trap the release (or a careless copy of it) can hold;
`pack_and_extract` round-trips a folder through a .tar.gz and
`utils.sources.extract_tar_safely`, as a downloaded release would be.
The TRAP_* constants say what `utils.pipeline.scan_pets` must make of it.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from utils import data
from utils.sources import extract_tar_safely

# Where the real subset lives when this checkout sits next to ../shared.
REAL_MINI = Path(__file__).resolve().parents[2] / "shared/data/oxford_pets_mini"


def random_rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth-ish random (H, W, 3) uint8 picture (JPEG-friendly)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(30, 220, (1, 1, 3))
    ramp = np.linspace(0, 30, width)[None, :, None]
    return np.clip(base + ramp + rng.normal(0, 5, (height, width, 3)), 0, 255).astype(
        np.uint8
    )


def make_trimap(height: int, width: int, values=(1, 2, 3)) -> np.ndarray:
    """A (H, W) uint8 trimap: pet box (1), background (2), border ring (3)."""
    trimap = np.full((height, width), values[1], np.uint8)
    trimap[2 : height - 2, 2 : width - 2] = values[2]
    trimap[3 : height - 3, 3 : width - 3] = values[0]
    return trimap


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    """The bytes of `image` saved in format `fmt`."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def jpeg_bytes(height: int, width: int, seed: int = 0, mode: str = "RGB") -> bytes:
    """A real JPEG of the given size, in colour mode `mode` (RGB, L, CMYK)."""
    return encode(
        Image.fromarray(random_rgb(height, width, seed)).convert(mode), "JPEG"
    )


def png_bytes(array: np.ndarray) -> bytes:
    """A lossless PNG of a (H, W) or (H, W, C) uint8 array."""
    return encode(Image.fromarray(array), "PNG")


def rgba_png_bytes(height: int, width: int, seed: int = 0) -> bytes:
    """A PNG with an alpha channel, like the release's Abyssinian_5.jpg."""
    rgb = random_rgb(height, width, seed)
    alpha = np.full((height, width, 1), 200, np.uint8)
    return png_bytes(np.concatenate([rgb, alpha], axis=-1))


def gif_bytes(height: int, width: int, seed: int = 0) -> bytes:
    """A palette GIF, like the release's Abyssinian_34.jpg."""
    return encode(Image.fromarray(random_rgb(height, width, seed)).convert("P"), "GIF")


# Stems of the trap folder, by what scan_pets must conclude.
TRAP_VALID = [
    "Cat_1",  # plain RGB JPEG
    "Cat_2",
    "Cat_3",
    "dog_4",
    "dog_5",
    "dog_6",
    "Alpha_7",  # PNG with alpha saved as .jpg
    "Gif_8",  # GIF saved as .jpg, all-background trimap
    "Grey_9",  # grayscale JPEG
    "Cmyk_10",  # CMYK JPEG
    "Upper_11",  # upper-case .JPG suffix
    "Png_12",  # a real PNG image named .png
]
TRAP_SKIPPED = {
    data.NOT_IMAGE: [
        "images/.DS_Store",
        "images/._Cat_1.jpg",
        "images/Abyssinian_100.mat",
        "trimaps/._Cat_1.png",
        "trimaps/notes.txt",
    ],
    data.BAD_IMAGE: ["Trunc_13"],
    data.BAD_VALUES: ["White_15", "Zero_14"],
    data.SIZE_MISMATCH: ["Mismatch_16"],
    data.NO_TRIMAP: ["Notrimap_17"],
    data.NO_IMAGE: ["Noimage_18"],
    data.BAD_TRIMAP: ["Corrupt_19"],
}
# Split files: invalid and absent stems are listed too, as a real list may be.
TRAP_TRAINVAL = [
    "Cat_1",
    "Cat_2",
    "dog_4",
    "dog_5",
    "Alpha_7",
    "Grey_9",
    "Cmyk_10",
    "Trunc_13",
    "Zero_14",
    "Absent_99",
]
TRAP_TEST = ["Cat_3", "dog_6", "Upper_11", "Mismatch_16"]
# Valid pairs in neither split file (like the release's Abyssinian_34).
TRAP_UNLISTED = ["Gif_8", "Png_12"]


def build_trap_folder(root: Path) -> Path:
    """Write the trap folder (official layout) under `root` and return `root`."""
    images, trimaps = root / "images", root / "annotations" / "trimaps"
    images.mkdir(parents=True)
    trimaps.mkdir(parents=True)

    def pair(stem, image_name, image_data, trimap_array):
        if image_data is not None:
            (images / image_name).write_bytes(image_data)
        if trimap_array is not None:
            (trimaps / f"{stem}.png").write_bytes(png_bytes(trimap_array))

    for seed, (stem, (h, w)) in enumerate(
        zip(
            TRAP_VALID[:6], [(24, 32), (32, 24), (20, 20), (17, 23), (30, 30), (16, 40)]
        )
    ):
        pair(stem, f"{stem}.jpg", jpeg_bytes(h, w, seed), make_trimap(h, w))
    pair("Alpha_7", "Alpha_7.jpg", rgba_png_bytes(21, 25), make_trimap(21, 25))
    gif_trimap = np.full((18, 22), 2, np.uint8)  # all background, as in the release
    pair("Gif_8", "Gif_8.jpg", gif_bytes(18, 22), gif_trimap)
    pair("Grey_9", "Grey_9.jpg", jpeg_bytes(20, 26, mode="L"), make_trimap(20, 26))
    pair("Cmyk_10", "Cmyk_10.jpg", jpeg_bytes(22, 19, mode="CMYK"), make_trimap(22, 19))
    pair("Upper_11", "Upper_11.JPG", jpeg_bytes(20, 20), make_trimap(20, 20))
    pair("Png_12", "Png_12.png", png_bytes(random_rgb(15, 21)), make_trimap(15, 21))

    full = jpeg_bytes(40, 48, seed=13)
    pair("Trunc_13", "Trunc_13.jpg", full[: len(full) // 2], make_trimap(40, 48))
    pair("Zero_14", "Zero_14.jpg", jpeg_bytes(20, 20), make_trimap(20, 20, (1, 0, 3)))
    pair(
        "White_15", "White_15.jpg", jpeg_bytes(20, 20), make_trimap(20, 20, (255, 2, 3))
    )
    pair("Mismatch_16", "Mismatch_16.jpg", jpeg_bytes(20, 30), make_trimap(30, 20))
    pair("Notrimap_17", "Notrimap_17.jpg", jpeg_bytes(20, 20), None)
    pair("Noimage_18", "Noimage_18.jpg", None, make_trimap(20, 20))
    (images / "Corrupt_19.jpg").write_bytes(jpeg_bytes(20, 20))
    (trimaps / "Corrupt_19.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")

    # Files that are no images at all: AppleDouble twins of a valid stem, a
    # Finder file, the release's stray .mat, a text file.
    apple_double = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        "
    (images / "._Cat_1.jpg").write_bytes(apple_double)
    (trimaps / "._Cat_1.png").write_bytes(apple_double)
    (images / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (images / "Abyssinian_100.mat").write_bytes(b"MATLAB 5.0 MAT-file" + bytes(64))
    (trimaps / "notes.txt").write_text("not a trimap\n")
    (root / "annotations" / "._trimaps").write_bytes(apple_double)

    def lines(stems):
        return "".join(f"{s} {i + 1} {1 + i % 2} 1\n" for i, s in enumerate(stems))

    annotations = root / "annotations"
    (annotations / "trainval.txt").write_text(lines(TRAP_TRAINVAL))
    (annotations / "test.txt").write_text(lines(TRAP_TEST))
    header = (
        "#Image CLASS-ID SPECIES BREED ID\n"
        "#All images with 1st letter as captial are cat images\n"
    )
    (annotations / "list.txt").write_text(header + lines(TRAP_TRAINVAL + TRAP_TEST))
    return root


def pack_and_extract(folder: Path, workdir: Path) -> Path:
    """Tar.gz `folder`'s content (images/, annotations/ at the top, as in the
    release), extract it with `extract_tar_safely`, and return the new folder."""
    archive = workdir / "pets.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for child in sorted(folder.iterdir()):
            tar.add(child, arcname=child.name)
    target = workdir / "extracted"
    extract_tar_safely(archive, target)
    return target


def fake_pairs(count: int, prefix: str = "Pet") -> list[data.Pair]:
    """`count` Pair objects with made-up paths (split_pairs never opens them)."""
    return [
        data.Pair(f"{prefix}_{i}", Path(f"{prefix}_{i}.jpg"), Path(f"{prefix}_{i}.png"))
        for i in range(count)
    ]


def write_split_files(root: Path, trainval: list[str], test: list[str]) -> Path:
    """Write annotations/trainval.txt and test.txt listing the given stems."""
    annotations = root / "annotations"
    annotations.mkdir(parents=True, exist_ok=True)
    (annotations / "trainval.txt").write_text("".join(f"{s} 1 1 1\n" for s in trainval))
    (annotations / "test.txt").write_text("".join(f"{s} 1 1 1\n" for s in test))
    return root
