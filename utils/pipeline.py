"""tf.data input pipeline: decode, resize, cache as uint8, shuffle, batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from utils.config import Config
from utils.data import (
    Pair,
    ScanReport,
    build_report,
    collect_codes,
    decode_image,
    find_pairs,
    pairs_dataset,
    read_pair,
    split_pairs,
)
from utils.synthetic import make_synthetic_pets

AUTOTUNE = tf.data.AUTOTUNE


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


def read_examples(pairs: list[Pair], img_size: int, cache: str = "") -> tf.data.Dataset:
    """Decode, check and resize `pairs` in parallel, cached in memory or a file.

    Elements are (stem, code, image uint8 (S, S, 3), mask uint8 (S, S, 1));
    pairs with a file that cannot be decoded are dropped.
    """

    def load(stem, image_path, trimap_path):
        image, mask, code = load_example(image_path, trimap_path, img_size)
        return stem, code, image, mask

    ds = pairs_dataset(pairs).map(load, num_parallel_calls=AUTOTUNE)
    ds = ds.ignore_errors()
    return ds.cache(cache)


def prepare_examples(
    data_dir: str | Path, img_size: int, cache: str = ""
) -> tuple[ScanReport, tf.data.Dataset]:
    """Validate and cache a data folder in one pass: its report and examples.

    Every pair is decoded once: the pass that checks it also fills the cache
    of `read_examples` that the datasets of `make_dataset` then read.
    """
    candidates, skipped = find_pairs(data_dir)
    examples = read_examples(candidates, img_size, cache)
    found = collect_codes(examples.map(lambda stem, code, image, mask: (stem, code)))
    return build_report(data_dir, candidates, skipped, found), examples


def flip_pair(image: tf.Tensor, mask: tf.Tensor, seed: tf.Tensor):
    """Flip image and mask left-right together, with probability 1/2."""
    flip = tf.random.stateless_uniform((), seed) < 0.5
    return (
        tf.cond(flip, lambda: tf.reverse(image, [1]), lambda: image),
        tf.cond(flip, lambda: tf.reverse(mask, [1]), lambda: mask),
    )


def to_model_inputs(image: tf.Tensor, mask: tf.Tensor):
    """uint8 batch -> (image float32 in [0, 1], mask int32 class ids)."""
    return tf.cast(image, tf.float32) / 255.0, tf.cast(mask, tf.int32)


def make_dataset(
    pairs: list[Pair],
    img_size: int = 128,
    batch_size: int = 32,
    shuffle: bool = False,
    augment: bool = False,
    seed: int = 42,
    cache: str = "",
    examples: tf.data.Dataset | None = None,
) -> tf.data.Dataset:
    """Batches of (image (B, S, S, 3) float32 [0, 1], mask (B, S, S, 1) int32 0..2).

    `pairs` must be valid (those of a ScanReport). Their examples come from
    `examples` (from `prepare_examples`), or are read by `read_examples`
    (cached in memory when `cache` is "", else in that file), so later epochs
    skip decoding. Shuffling and the optional flip augmentation come after the
    cache and differ per epoch.
    """
    if examples is None:
        examples = read_examples(pairs, img_size, cache)
    # A mutable table, as a static one refuses an empty split (no test list).
    wanted = tf.lookup.experimental.MutableHashTable(tf.string, tf.int32, 0)
    wanted.insert(
        tf.constant([pair.stem for pair in pairs], tf.string),
        tf.ones(len(pairs), tf.int32),
    )
    ds = examples.filter(lambda stem, code, *_: (wanted.lookup(stem) > 0) & (code == 0))
    ds = ds.map(lambda stem, code, image, mask: (image, mask))
    # The filter hides the size that Keras needs to count steps per epoch;
    # every pair must be valid, and a dropped one fails the epoch loudly.
    ds = ds.apply(tf.data.experimental.assert_cardinality(len(pairs)))
    if shuffle:
        ds = ds.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)
    if augment:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        seeds = seeds.batch(2)
        ds = tf.data.Dataset.zip(ds, seeds).map(
            lambda example, s: flip_pair(*example, s), num_parallel_calls=AUTOTUNE
        )
    ds = ds.batch(batch_size).map(to_model_inputs, num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def take_examples(ds: tf.data.Dataset, count: int) -> tuple[np.ndarray, np.ndarray]:
    """First `count` examples of a batched dataset as NumPy (images, masks (N,S,S))."""
    images, masks = [], []
    for image, mask in ds.unbatch().take(count):
        images.append(image.numpy())
        masks.append(mask.numpy()[..., 0])
    return np.stack(images), np.stack(masks)


def load_image_bytes(data: bytes, img_size: int) -> np.ndarray:
    """Decode uploaded image bytes as the dataset does: (S, S, 3) float32 [0, 1]."""
    image = resize_image(decode_image(data), img_size)
    return image.numpy().astype(np.float32) / 255.0


def locate_data(config: Config) -> Path:
    """The data folder a config asks for: synthetic, local, or downloaded."""
    if config.fast:
        count = config.max_images or 256
        root = Path(config.cache_dir) / f"synthetic_pets_{count}"
        return make_synthetic_pets(root, count, seed=config.seed)
    if config.data_dir:
        return Path(config.data_dir)
    from utils.download import download_pets

    return download_pets(config.cache_dir, extract_dir=config.extract_dir)


def make_datasets(config: Config) -> dict:
    """Scan, split and wrap the data of `config` in tf.data pipelines.

    Returns the scan report, the split pairs, the cached examples, a dataset
    per split (only train shuffled and optionally augmented) and which split to
    evaluate on: the official test list, or val for the reference's random split.
    """
    report, examples = prepare_examples(locate_data(config), config.img_size)
    splits = split_pairs(
        report.pairs,
        report.data_dir,
        config.split,
        config.val_fraction,
        config.seed,
        config.max_images,
    )
    for name in ("train", "val"):
        if not splits[name]:
            counts = {key: len(pairs) for key, pairs in splits.items()}
            raise ValueError(
                f"The {name} split of {report.data_dir} is empty ({counts}): use "
                "more images (max_images), another val_fraction or split."
            )
    common = dict(img_size=config.img_size, batch_size=config.batch_size)
    data = {"report": report, "splits": splits, "examples": examples}
    for name, pairs in splits.items():
        training = name == "train"
        data[name] = make_dataset(
            pairs,
            shuffle=training,
            augment=training and config.augment,
            seed=config.seed,
            examples=examples,
            **common,
        )
    data["eval_split"] = "test" if splits["test"] else "val"
    return data
