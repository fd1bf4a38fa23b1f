"""From pairs to batches: decode, check and cache once, then shuffle, augment, batch.

`python -m tools.check_data DIR` prints the validation report of a folder."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf

from utils.config import Config, ProjectError
from utils.data import Pair, ScanReport, build_report, decode_image, find_pairs
from utils.data import read_pair, split_pairs, stats_pairs, subset_train
from utils.sources import locate_data

AUTOTUNE = tf.data.AUTOTUNE


def pairs_dataset(pairs: list[Pair]) -> tf.data.Dataset:
    """A dataset of (stem, image path, trimap path) strings, one per pair."""
    columns = list(zip(*[(p.stem, str(p.image), str(p.trimap)) for p in pairs]))
    # An explicit string dtype keeps an empty list of pairs valid.
    tensors = tuple(tf.constant(c, tf.string) for c in columns or [[], [], []])
    return tf.data.Dataset.from_tensor_slices(tensors)


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

    The code is `read_pair`'s (0 when valid; otherwise the mask is meaningless)."""
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
    nothing (a pass that only validates)."""

    def load(stem, image_path, trimap_path):
        image, mask, code = load_example(image_path, trimap_path, img_size)
        return stem, code, image, mask

    ds = pairs_dataset(pairs).map(load, num_parallel_calls=AUTOTUNE).ignore_errors()
    return ds if cache is None else ds.cache(cache)


def prepare_examples(
    data_dir: str | Path, img_size: int, cache: str | None = ""
) -> tuple[ScanReport, tf.data.Dataset]:
    """Validate and cache a data folder in one pass: its report and examples.

    Every pair is decoded once: the pass that checks it also fills the cache
    (`read_examples`'s; None caches nothing) that `make_dataset` then reads."""
    candidates, skipped = find_pairs(data_dir)
    examples = read_examples(candidates, img_size, cache)
    codes = examples.map(lambda stem, code, image, mask: (stem, code)).batch(256)
    found = {
        stem.decode(): int(code)
        for stems, batch_codes in codes.as_numpy_iterator()
        for stem, code in zip(stems, batch_codes)
    }
    return build_report(data_dir, candidates, skipped, found), examples


def scan_pets(data_dir: str | Path) -> ScanReport:
    """Pair images and trimaps by stem and decode each pair to validate it."""
    # 16 pixels a side: the report does not depend on the size; nothing is kept.
    return prepare_examples(data_dir, 16, cache=None)[0]


def to_model_inputs(image: tf.Tensor, mask: tf.Tensor):
    """uint8 batch -> (image float32 in [0, 1], mask int32 class ids)."""
    return tf.cast(image, tf.float32) / 255.0, tf.cast(mask, tf.int32)


def scaled_crop(both: tf.Tensor, seed: tf.Tensor, min_area: float = 0.5):
    """Random crop of 50-100% of the area (aspect 3:4 to 4:3), resized back.

    `both` is (S, S, 4) float32, RGB and class id, so one crop box moves image and
    mask together; the mask is resized by nearest neighbour, its labels exact."""
    shape = tf.shape(both)
    box = dict(min_object_covered=min_area, aspect_ratio_range=(3 / 4, 4 / 3))
    box |= dict(area_range=(min_area, 1.0), use_image_if_no_bounding_boxes=True)
    sample = tf.image.stateless_sample_distorted_bounding_box
    begin, size, _ = sample(shape, tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed, **box)
    crop = tf.slice(both, begin, size)
    image = tf.image.resize(crop[..., :3], shape[:2], antialias=True)
    mask = tf.image.resize(crop[..., 3:], shape[:2], method="nearest")
    # The crop size is dynamic; restore the static shape that Keras's losses check.
    both_out = tf.concat([tf.clip_by_value(image, 0.0, 1.0), mask], axis=-1)
    return tf.ensure_shape(both_out, both.shape)


def augment_pair(image: tf.Tensor, mask: tf.Tensor, seed: tf.Tensor, mode: str):
    """Augment one training example: uint8 (S, S, 3) and (S, S, 1) in, model inputs out.

    "flip": left-right flip with probability 1/2; "full": flip, scaled crop
    and colour jitter. Returns (image float32 [0, 1], mask int32 0..2); a
    function of `seed` ([2] int64) alone."""
    split = tf.random.experimental.stateless_split
    flip_seed, crop_seed, colour_seed = tf.unstack(split(seed, 3))
    image, mask = to_model_inputs(image, mask)
    # One tensor, so every geometric change moves a pixel's class with it.
    both = tf.concat([image, tf.cast(mask, tf.float32)], axis=-1)
    both = tf.image.stateless_random_flip_left_right(both, flip_seed)
    if mode == "full":
        both = scaled_crop(both, crop_seed)
    image, mask = both[..., :3], tf.cast(both[..., 3:], tf.int32)
    if mode == "full":  # colour jitter
        seeds = tf.unstack(split(colour_seed, 4))
        image = tf.image.stateless_random_brightness(image, 0.1, seeds[0])
        image = tf.image.stateless_random_contrast(image, 0.8, 1.2, seeds[1])
        image = tf.image.stateless_random_saturation(image, 0.8, 1.2, seeds[2])
        image = tf.image.stateless_random_hue(image, 0.03, seeds[3])
        image = tf.clip_by_value(image, 0.0, 1.0)
    return image, mask


def make_dataset(
    pairs: list[Pair],
    img_size: int = 128,
    batch_size: int = 32,
    shuffle: bool = False,
    augment: str = "none",
    seed: int = 42,
    cache: str = "",
    examples: tf.data.Dataset | None = None,
) -> tf.data.Dataset:
    """Batches of (image (B, S, S, 3) float32 [0, 1], mask (B, S, S, 1) int32 0..2).

    `pairs` must be valid (a ScanReport's). Their examples come from `examples`
    (`prepare_examples`'s) or `read_examples` (cached in memory when `cache` is
    "", else in that file), so later epochs skip decoding; shuffling and
    augmentation (see `augment_pair`) come after the cache and differ per epoch."""
    if examples is None:
        examples = read_examples(pairs, img_size, cache)
    # A mutable table, as a static one refuses an empty split (no test list).
    wanted = tf.lookup.experimental.MutableHashTable(tf.string, tf.int32, 0)
    stems = tf.constant([pair.stem for pair in pairs], tf.string)
    wanted.insert(stems, tf.ones(len(pairs), tf.int32))
    ds = examples.filter(lambda stem, code, *_: (wanted.lookup(stem) > 0) & (code == 0))
    ds = ds.map(lambda stem, code, image, mask: (image, mask))
    # The filter hides the size that Keras needs to count steps per epoch;
    # every pair must be valid, and a dropped one fails the epoch loudly.
    ds = ds.apply(tf.data.experimental.assert_cardinality(len(pairs)))
    if shuffle:
        ds = ds.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)
    if augment == "none":
        ds = ds.batch(batch_size).map(to_model_inputs, num_parallel_calls=AUTOTUNE)
        return ds.prefetch(AUTOTUNE)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    ds = tf.data.Dataset.zip(ds, seeds.batch(2))
    ds = ds.map(lambda x, s: augment_pair(*x, s, augment), num_parallel_calls=AUTOTUNE)
    return ds.batch(batch_size).prefetch(AUTOTUNE)


def take_examples(ds: tf.data.Dataset, count: int) -> tuple[np.ndarray, np.ndarray]:
    """First `count` examples of a batched dataset as NumPy (images, masks (N,S,S))."""
    images, masks = zip(*ds.unbatch().take(count).as_numpy_iterator())
    return np.stack(images), np.stack(masks)[..., 0]


def load_image_bytes(data: bytes, img_size: int) -> np.ndarray:
    """Decode uploaded image bytes as the dataset does: (S, S, 3) float32 [0, 1]."""
    image = resize_image(decode_image(data), img_size)
    return image.numpy().astype(np.float32) / 255.0


@dataclasses.dataclass(frozen=True)
class PetData:
    """The data of one config: what was found, how it was split, its datasets.

    `train` is shuffled and augmented; `val` and `test` are not; `train_stats`
    holds training images in a fixed order, not augmented: what precise
    BatchNorm averages over. `examples` is the decoded, cached folder."""

    report: ScanReport
    splits: dict[str, list[Pair]]
    examples: tf.data.Dataset
    train: tf.data.Dataset
    val: tf.data.Dataset
    test: tf.data.Dataset
    train_stats: tf.data.Dataset

    @property
    def eval_split(self) -> str:
        """The held-out split: the official test list, or val for a random split."""
        return "test" if self.splits["test"] else "val"

    @property
    def eval_ds(self) -> tf.data.Dataset:
        """The dataset of `eval_split`."""
        return self.dataset(self.eval_split)

    def dataset(self, split: str) -> tf.data.Dataset:
        """The dataset of a split by name: "train", "val" or "test"."""
        if split not in self.splits:
            raise ProjectError(
                f"split must be one of {list(self.splits)}, got {split!r}"
            )
        return getattr(self, split)

    def sizes(self) -> dict[str, int]:
        """The number of pairs in each split."""
        return {name: len(pairs) for name, pairs in self.splits.items()}


def make_datasets(config: Config) -> PetData:
    """Scan, split and wrap the data of `config` in tf.data pipelines."""
    data_dir = locate_data(config)
    report, examples = prepare_examples(data_dir, config.img_size)
    seed = config.split_seed
    how = (config.split, config.val_fraction, seed, config.max_images)
    splits = split_pairs(report.pairs, report.data_dir, *how, skipped=report.skipped)
    splits["train"] = subset_train(splits["train"], config.train_images, seed)
    if config.split == "official" and not splits["test"] and not config.max_images:
        raise ProjectError(
            f"No pair listed in {report.data_dir}/annotations/test.txt is valid "
            "(the report above says why), so there is nothing to test on. Fix "
            "those files, or use the random split (S18_SPLIT=random), which "
            "evaluates on validation."
        )
    for name in ("train", "val"):
        if not splits[name]:
            counts = {key: len(pairs) for key, pairs in splits.items()}
            raise ProjectError(
                f"The {name} split of {report.data_dir} is empty ({counts}): use "
                "more images (max_images), another val_fraction or split."
            )
    stats = stats_pairs(splits["train"], config.precise_bn_images, seed)
    common = dict(img_size=config.img_size, batch_size=config.batch_size)
    common |= dict(seed=config.seed, examples=examples)
    train = dict(shuffle=True, augment=config.augment)
    datasets = {
        name: make_dataset(pairs, **common, **(train if name == "train" else {}))
        for name, pairs in splits.items()
    }
    # Kept as model inputs: each epoch's re-estimation reads the same batches.
    train_stats = make_dataset(stats, **common).cache()
    return PetData(report, splits, examples, train_stats=train_stats, **datasets)
