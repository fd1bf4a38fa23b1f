"""A tiny, learnable stand-in for the Oxford-IIIT Pet release, written to disk.

Fast mode and the tests use it. It has the release's layout (images/*.jpg,
annotations/trimaps/*.png with 1 = pet, 2 = background, 3 = border, and the
trainval/test/list files), so the real loading code runs unchanged on it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

BREEDS = ("Synthetic_cat", "synthetic_dog")
BORDER_PX = 2


def draw_background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A textured background: a colour gradient plus noise, (H, W, 3) uint8."""
    width, height = size
    ramp = np.linspace(0.0, 1.0, width)[None, :, None]
    start, end = rng.uniform(40, 215, (2, 3))
    rgb = start + (end - start) * ramp + rng.normal(0, 18, (height, width, 3))
    return np.clip(rgb, 0, 255).astype(np.uint8)


def draw_pet(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A random blob (ellipse or polygon) as an 'L' image: 255 inside, 0 outside."""
    width, height = size
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
    return shape


def make_example(rng: np.random.Generator) -> tuple[Image.Image, Image.Image]:
    """One synthetic photo (RGB) and its trimap ('L', values 1, 2, 3)."""
    size = (int(rng.integers(96, 161)), int(rng.integers(96, 161)))
    background = draw_background(rng, size)
    inside = np.asarray(draw_pet(rng, size)) > 0
    # Striped fur in a colour far from the background keeps the task learnable.
    stripes = (np.indices(inside.shape).sum(axis=0) // 4) % 2
    fur = 255 - background.mean(axis=(0, 1))
    pet = fur * (0.75 + 0.25 * stripes[..., None])
    photo = np.where(inside[..., None], pet, background).astype(np.uint8)
    shape = Image.fromarray(inside.astype(np.uint8) * 255)
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
