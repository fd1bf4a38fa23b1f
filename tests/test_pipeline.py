"""utils/pipeline.py: the scanning pass (resize, load, the uint8 cache) and the
batches (augmentation, batching, fast mode)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.fixtures import (
    TRAP_SKIPPED,
    TRAP_VALID,
    build_trap_folder,
    gif_bytes,
    jpeg_bytes,
    make_trimap,
    png_bytes,
    random_rgb,
    rgba_png_bytes,
)
from utils.config import ProjectError, fast_config
from utils.data import Pair, find_pairs
from utils.pipeline import (
    PetData,
    augment_pair,
    load_example,
    load_image_bytes,
    make_dataset,
    make_datasets,
    pairs_dataset,
    prepare_examples,
    read_examples,
    resize_image,
    resize_mask,
    scan_pets,
    take_examples,
)

# A hand-made 5x7 trimap using every value (1 pet, 2 background, 3 border).
TRIMAP_5X7 = np.array(
    [
        [2, 2, 2, 2, 2, 2, 2],
        [2, 3, 3, 3, 3, 2, 2],
        [2, 3, 1, 1, 3, 2, 2],
        [2, 3, 3, 3, 3, 2, 2],
        [2, 2, 2, 2, 2, 2, 2],
    ],
    np.uint8,
)

# Colour of each class in the colour-coded examples (lossless PNG images).
PALETTE = np.array([[230, 40, 40], [40, 200, 40], [40, 40, 230]], np.uint8)
CODED_SIZE = 16


# --------------------------------------------------------------------------
# resize_mask / resize_image
# --------------------------------------------------------------------------


@pytest.mark.parametrize("size", [4, 9])
def test_resize_mask_keeps_only_class_ids(size):
    mask = resize_mask(tf.constant(TRIMAP_5X7[..., None]), size)
    assert mask.dtype == tf.uint8
    assert mask.shape == (size, size, 1)
    assert set(np.unique(mask.numpy())) <= {0, 1, 2}


def test_resize_mask_upsampling_keeps_every_class():
    # 5 -> 9 rows and 7 -> 9 columns: every source pixel reaches the output.
    mask = resize_mask(tf.constant(TRIMAP_5X7[..., None]), 9).numpy()
    assert set(np.unique(mask)) == {0, 1, 2}


@pytest.mark.parametrize("value, class_id", [(1, 0), (2, 1), (3, 2)])
@pytest.mark.parametrize("size", [4, 9])
def test_resize_mask_maps_constant_trimap(value, class_id, size):
    trimap = np.full((5, 7, 1), value, np.uint8)
    mask = resize_mask(tf.constant(trimap), size).numpy()
    np.testing.assert_array_equal(mask, np.full((size, size, 1), class_id, np.uint8))


def test_resize_mask_nearest_blocks():
    # 2x2 -> 4x4 nearest neighbour: each trimap pixel becomes a 2x2 block.
    trimap = np.array([[1, 2], [3, 1]], np.uint8)[..., None]
    expected = np.array(
        [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 0, 0], [2, 2, 0, 0]], np.uint8
    )[..., None]
    np.testing.assert_array_equal(resize_mask(tf.constant(trimap), 4).numpy(), expected)


def test_resize_mask_same_size_is_trimap_minus_one():
    square = TRIMAP_5X7[:, :5, None]
    np.testing.assert_array_equal(
        resize_mask(tf.constant(square), 5).numpy(), square - 1
    )


@pytest.mark.parametrize("size", [4, 9, 128])
def test_resize_image_uint8_shape(size):
    image = resize_image(tf.constant(random_rgb(5, 7)), size)
    assert image.dtype == tf.uint8
    assert image.shape == (size, size, 3)


@pytest.mark.parametrize("size", [4, 9])
def test_resize_image_constant_stays_constant(size):
    image = np.full((5, 7, 3), (200, 17, 255), np.uint8)
    out = resize_image(tf.constant(image), size).numpy()
    np.testing.assert_array_equal(out, np.full((size, size, 3), (200, 17, 255)))


def test_resize_image_same_size_is_identity():
    image = random_rgb(6, 6, seed=3)
    np.testing.assert_array_equal(resize_image(tf.constant(image), 6).numpy(), image)


# --------------------------------------------------------------------------
# load_example / load_image_bytes
# --------------------------------------------------------------------------

IMAGE_KINDS = {
    "rgba-png-as-jpg": lambda: rgba_png_bytes(21, 25),
    "gif-as-jpg": lambda: gif_bytes(21, 25),
    "grey-jpeg": lambda: jpeg_bytes(21, 25, mode="L"),
    "cmyk-jpeg": lambda: jpeg_bytes(21, 25, mode="CMYK"),
    "rgb-jpeg": lambda: jpeg_bytes(21, 25),
}


@pytest.mark.parametrize("kind", list(IMAGE_KINDS))
@pytest.mark.parametrize("size", [16, 32])
def test_load_example_odd_files(tmp_path, kind, size):
    image_path, trimap_path = tmp_path / "Odd_1.jpg", tmp_path / "Odd_1.png"
    image_path.write_bytes(IMAGE_KINDS[kind]())
    trimap_path.write_bytes(png_bytes(make_trimap(21, 25)))
    image, mask, code = load_example(
        tf.constant(str(image_path)), tf.constant(str(trimap_path)), size
    )
    assert int(code) == 0
    assert (image.shape, image.dtype) == ((size, size, 3), tf.uint8)
    assert (mask.shape, mask.dtype) == ((size, size, 1), tf.uint8)
    assert set(np.unique(mask.numpy())) == {0, 1, 2}


@pytest.mark.parametrize(
    "data",
    [
        png_bytes(random_rgb(10, 14)),
        rgba_png_bytes(10, 14),
        png_bytes(random_rgb(10, 14)[..., 0]),  # greyscale PNG
        gif_bytes(10, 14),
        jpeg_bytes(10, 14),
    ],
    ids=["png", "rgba-png", "grey-png", "gif", "jpeg"],
)
def test_load_image_bytes(data):
    image = load_image_bytes(data, 24)
    assert isinstance(image, np.ndarray)
    assert (image.shape, image.dtype) == ((24, 24, 3), np.float32)
    assert 0.0 <= image.min() and image.max() <= 1.0


def test_load_image_bytes_matches_the_dataset_scaling():
    rgb = random_rgb(12, 12, seed=4)
    np.testing.assert_array_equal(
        load_image_bytes(png_bytes(rgb), 12), rgb.astype(np.float32) / 255.0
    )


@pytest.mark.parametrize("data", [b"not an image", b""], ids=["text", "empty"])
def test_load_image_bytes_rejects_garbage(data):
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError)):
        load_image_bytes(data, 24)


# --------------------------------------------------------------------------
# augment_pair
# --------------------------------------------------------------------------


def _blocky_pair(size: int = 32, block: int = 4, seed: int = 0):
    """Image whose dominant channel is each pixel's class, in random 4x4 blocks."""
    rng = np.random.default_rng(seed)
    cells = rng.integers(0, 3, (size // block, size // block))
    classes = np.kron(cells, np.ones((block, block), np.int64)).astype(np.uint8)
    return PALETTE[classes], classes[..., None]


def _augment(image, mask, seed, mode):
    out_image, out_mask = augment_pair(
        tf.constant(image), tf.constant(mask), tf.constant(seed, tf.int64), mode
    )
    return out_image.numpy(), out_mask.numpy()[..., 0]


def test_augment_pair_flip_moves_image_and_mask_together():
    image, mask = _blocky_pair()
    outcomes = set()
    for seed in range(20):
        out_image, out_mask = _augment(image, mask, [seed, 7], "flip")
        flipped = np.array_equal(out_mask, mask[:, ::-1, 0])
        assert flipped or np.array_equal(out_mask, mask[..., 0])
        expected = image[:, ::-1] if flipped else image
        np.testing.assert_array_equal(np.round(out_image * 255), expected)
        outcomes.add(flipped)
    assert outcomes == {True, False}


def test_augment_pair_full_keeps_each_pixel_class_with_its_colour():
    image, mask = _blocky_pair()
    changed = 0
    for seed in range(6):
        out_image, out_mask = _augment(image, mask, [seed, 3], "full")
        changed += not np.array_equal(out_mask, mask[..., 0])
        assert out_image.shape == (32, 32, 3) and out_image.dtype == np.float32
        assert 0.0 <= out_image.min() and out_image.max() <= 1.0
        assert set(np.unique(out_mask)) <= {0, 1, 2}
        # Crops change the image, jitter its colours: the dominant channel
        # still names the pixel's class except on blurred block edges.
        agree = np.mean(np.argmax(out_image, axis=-1) == out_mask)
        assert agree > 0.85
    assert changed >= 5
    # The same image against a mask moved by one block: most pixels disagree.
    shuffled = np.mean(np.argmax(out_image, axis=-1) == np.roll(out_mask, 4, axis=1))
    assert shuffled < 0.6


@pytest.mark.parametrize("mode", ["flip", "full"])
def test_augment_pair_is_a_function_of_the_seed(mode):
    image, mask = _blocky_pair()
    first = _augment(image, mask, [3, 4], mode)
    again = _augment(image, mask, [3, 4], mode)
    other = _augment(image, mask, [5, 4], mode)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert mode == "flip" or not np.array_equal(first[0], other[0])


# --------------------------------------------------------------------------
# make_dataset
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def coded_pairs(tmp_path_factory) -> list[Pair]:
    """8 pairs whose image colour encodes the class of each pixel (PNG, lossless).

    The class layout is random per pixel, so it is left-right asymmetric: a flip
    of only the image or only the mask breaks the colour <-> class mapping.
    """
    folder = tmp_path_factory.mktemp("coded")
    rng = np.random.default_rng(11)
    pairs = []
    for index in range(8):
        classes = rng.integers(0, 3, (CODED_SIZE, CODED_SIZE)).astype(np.uint8)
        stem = f"Coded_{index}"
        image, trimap = folder / f"{stem}.png", folder / f"{stem}_trimap.png"
        image.write_bytes(png_bytes(PALETTE[classes]))
        trimap.write_bytes(png_bytes(classes + 1))
        pairs.append(Pair(stem, image, trimap))
    return pairs


def _originals(pairs):
    """(images float32 [0, 1], masks) as the pipeline should give them unflipped."""
    images, masks = [], []
    for pair in pairs:
        image, mask, _ = load_example(str(pair.image), str(pair.trimap), CODED_SIZE)
        images.append(image.numpy().astype(np.float32) / 255.0)
        masks.append(mask.numpy()[..., 0].astype(np.int32))
    return np.stack(images), np.stack(masks)


def _colour_matches_class(images: np.ndarray, masks: np.ndarray) -> bool:
    colours = np.round(images * 255).astype(np.uint8)
    return np.array_equal(colours, PALETTE[masks])


def _epoch(ds):
    images, masks = zip(*[(i.numpy(), m.numpy()) for i, m in ds])
    return np.concatenate(images), np.concatenate(masks)[..., 0]


@pytest.mark.parametrize("size", [CODED_SIZE, 8, 20])
def test_make_dataset_batches(coded_pairs, size):
    ds = make_dataset(coded_pairs, img_size=size, batch_size=3)
    batches = list(ds)
    assert [len(images) for images, _ in batches] == [3, 3, 2]
    # Known in advance, so Keras can count the steps of an epoch.
    assert int(ds.cardinality()) == 3
    for images, masks in batches:
        assert images.dtype == tf.float32 and masks.dtype == tf.int32
        assert images.shape[1:] == (size, size, 3)
        assert masks.shape[1:] == (size, size, 1)
        assert (
            0.0 <= float(tf.reduce_min(images)) <= float(tf.reduce_max(images)) <= 1.0
        )
        assert set(np.unique(masks.numpy())) <= {0, 1, 2}
    spec = ds.element_spec
    assert spec[0].shape.as_list() == [None, size, size, 3]
    assert spec[1].shape.as_list() == [None, size, size, 1]


def test_make_dataset_plain_keeps_order_and_values(coded_pairs):
    images, masks = _epoch(make_dataset(coded_pairs, img_size=CODED_SIZE, batch_size=4))
    expected_images, expected_masks = _originals(coded_pairs)
    np.testing.assert_array_equal(images, expected_images)
    np.testing.assert_array_equal(masks, expected_masks)
    assert _colour_matches_class(images, masks)


def test_augmented_shuffled_training_set_keeps_pairs_matched(coded_pairs):
    ds = make_dataset(
        coded_pairs,
        img_size=CODED_SIZE,
        batch_size=3,
        shuffle=True,
        augment="flip",
        seed=5,
    )
    originals, _ = _originals(coded_pairs)
    flipped_seen = 0
    for _ in range(2):  # two epochs
        images, masks = _epoch(ds)
        assert len(images) == len(coded_pairs)
        assert _colour_matches_class(images, masks)
        for image in images:
            flipped_seen += any(np.array_equal(image, o[:, ::-1]) for o in originals)
    assert flipped_seen > 0


def test_augment_flips_each_example_or_not_consistently(coded_pairs):
    ds = make_dataset(
        coded_pairs, img_size=CODED_SIZE, batch_size=8, augment="flip", seed=1
    )
    images, masks = _epoch(ds)
    originals, original_masks = _originals(coded_pairs)
    flipped = []
    for image, mask, original, original_mask in zip(
        images, masks, originals, original_masks
    ):
        if np.array_equal(image, original):
            np.testing.assert_array_equal(mask, original_mask)
            flipped.append(False)
        else:
            np.testing.assert_array_equal(image, original[:, ::-1])
            np.testing.assert_array_equal(mask, original_mask[:, ::-1])
            flipped.append(True)
    assert set(flipped) == {True, False}


def test_augment_without_shuffle_differs_per_epoch(coded_pairs):
    ds = make_dataset(
        coded_pairs, img_size=CODED_SIZE, batch_size=8, augment="flip", seed=1
    )
    first, second = _epoch(ds)[0], _epoch(ds)[0]
    assert not np.array_equal(first, second)


def _order(ds, originals):
    """Index in `originals` of each image of one epoch of `ds`."""
    images, _ = _epoch(ds)
    return [
        next(i for i, o in enumerate(originals) if np.array_equal(image, o))
        for image in images
    ]


def test_shuffle_same_seed_same_first_epoch(coded_pairs):
    originals, _ = _originals(coded_pairs)

    def fresh(seed):
        return make_dataset(
            coded_pairs, img_size=CODED_SIZE, batch_size=3, shuffle=True, seed=seed
        )

    first = _order(fresh(9), originals)
    assert sorted(first) == list(range(len(coded_pairs)))
    assert first != list(range(len(coded_pairs)))
    assert _order(fresh(9), originals) == first
    assert _order(fresh(10), originals) != first
    # Reshuffled each epoch.
    ds = fresh(9)
    assert _order(ds, originals) == first
    assert _order(ds, originals) != first


def test_take_examples_shapes(coded_pairs):
    ds = make_dataset(coded_pairs, img_size=12, batch_size=3)
    images, masks = take_examples(ds, 5)
    assert (images.shape, images.dtype) == ((5, 12, 12, 3), np.float32)
    assert (masks.shape, masks.dtype) == ((5, 12, 12), np.int32)
    all_images, _ = take_examples(ds, 100)  # more than there are: all of them
    assert len(all_images) == len(coded_pairs)


def _find_cache(ds: tf.data.Dataset) -> tf.data.Dataset | None:
    """Walk the (private but long-stable) input chain down to the cache."""
    while ds is not None:
        if "Cache" in type(ds).__name__:
            return ds
        if hasattr(ds, "_input_dataset"):
            ds = ds._input_dataset
        else:  # a zip (the flip seeds are zipped in): follow the examples
            ds = tf.nest.flatten(getattr(ds, "_datasets", [None]))[0]
    return None


@pytest.mark.parametrize("augment", ["none", "full"])
@pytest.mark.parametrize("size", [12, 128])
def test_cached_part_holds_resized_uint8(coded_pairs, augment, size):
    ds = make_dataset(
        coded_pairs, img_size=size, batch_size=3, shuffle=True, augment=augment
    )
    cached = _find_cache(ds)
    if cached is None:
        pytest.skip("tf.data no longer exposes _input_dataset")
    stem_spec, code_spec, image_spec, mask_spec = cached.element_spec
    assert (stem_spec.dtype, code_spec.dtype) == (tf.string, tf.int32)
    assert (image_spec.shape.as_list(), image_spec.dtype) == ([size, size, 3], tf.uint8)
    assert (mask_spec.shape.as_list(), mask_spec.dtype) == ([size, size, 1], tf.uint8)
    # The stem and code add a few bytes; the pixels are what counts.
    per_example = sum(
        spec.shape.num_elements() * spec.dtype.size for spec in (image_spec, mask_spec)
    )
    assert per_example == size * size * 3 + size * size  # 65_536 bytes at 128


def test_cached_example_memory_at_128(tmp_path):
    image_path, trimap_path = tmp_path / "Big_1.jpg", tmp_path / "Big_1.png"
    image_path.write_bytes(jpeg_bytes(300, 200))
    trimap_path.write_bytes(png_bytes(make_trimap(300, 200)))
    image, mask, _ = load_example(str(image_path), str(trimap_path), 128)
    # 64 KiB per cached example: under 0.5 GB for the 7,390 release images.
    assert image.numpy().nbytes + mask.numpy().nbytes == 65_536
    assert image.dtype == mask.dtype == tf.uint8


def test_make_dataset_of_no_pairs_is_empty():
    ds = make_dataset([], img_size=8, batch_size=2)
    assert list(ds) == []


# --------------------------------------------------------------------------
# prepare_examples / read_examples: one decoding pass validates and caches
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trap_dir(tmp_path_factory) -> Path:
    return build_trap_folder(tmp_path_factory.mktemp("trap") / "oxford_pets")


def test_pairs_dataset_yields_stem_and_paths(trap_dir):
    candidates, _ = find_pairs(trap_dir)
    rows = list(pairs_dataset(candidates[:2]).as_numpy_iterator())
    assert rows == [
        (p.stem.encode(), str(p.image).encode(), str(p.trimap).encode())
        for p in candidates[:2]
    ]
    assert list(pairs_dataset([])) == []


def test_prepare_examples_reports_like_scan_pets(trap_dir):
    report, examples = prepare_examples(trap_dir, 16)
    expected = scan_pets(trap_dir)
    assert report.pairs == expected.pairs
    assert report.skipped == expected.skipped == TRAP_SKIPPED
    stems = [stem.decode() for stem, *_ in examples.as_numpy_iterator()]
    # Only the two pairs with an undecodable file are missing from the cache.
    assert sorted(set(TRAP_VALID) | {"Zero_14", "White_15", "Mismatch_16"}) == stems


def test_prepare_examples_fills_the_cache_in_its_pass(trap_dir, tmp_path):
    folder = shutil.copytree(trap_dir, tmp_path / "pets")
    report, examples = prepare_examples(folder, 16)
    expected, _ = _epoch(make_dataset(report.pairs, 16, 4))
    shutil.rmtree(folder)  # later passes must not read a file
    images, masks = _epoch(make_dataset(report.pairs, 16, 4, examples=examples))
    np.testing.assert_array_equal(images, expected)
    assert images.shape == (len(TRAP_VALID), 16, 16, 3)
    assert set(np.unique(masks)) <= {0, 1, 2}


def test_make_dataset_draws_only_its_pairs_from_examples(coded_pairs):
    examples = read_examples(coded_pairs, CODED_SIZE)
    chosen = [coded_pairs[i] for i in (1, 4, 6)]
    images, masks = _epoch(
        make_dataset(chosen, CODED_SIZE, batch_size=2, examples=examples)
    )
    expected_images, expected_masks = _originals(chosen)
    np.testing.assert_array_equal(images, expected_images)
    np.testing.assert_array_equal(masks, expected_masks)
    assert list(make_dataset([], CODED_SIZE, 2, examples=examples)) == []


def test_make_dataset_of_unchecked_pairs_fails_loudly(trap_dir):
    candidates, _ = find_pairs(trap_dir)
    ds = make_dataset(candidates, 16, batch_size=4)
    with pytest.raises(tf.errors.FailedPreconditionError, match="expected to contain"):
        _epoch(ds)


# --------------------------------------------------------------------------
# make_datasets in fast mode (synthetic data)
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fast_data(tmp_path_factory):
    config = fast_config(
        cache_dir=str(tmp_path_factory.mktemp("cache")), max_images=16, img_size=32
    )
    return config, make_datasets(config)


def test_make_datasets_fast(fast_data):
    config, data = fast_data
    assert isinstance(data, PetData)
    assert data.eval_split == "test"
    assert data.report.data_dir == Path(config.cache_dir) / "synthetic_pets_16"
    assert len(data.report.pairs) == 16
    sizes = data.sizes()
    assert sizes == {"train": 10, "val": 2, "test": 4}
    assert sizes == {name: len(pairs) for name, pairs in data.splits.items()}
    for name in ("train", "val", "test"):
        assert data.dataset(name) is getattr(data, name)
        count = 0
        for images, masks in data.dataset(name):
            assert images.shape[1:] == (32, 32, 3) and images.dtype == tf.float32
            assert masks.shape[1:] == (32, 32, 1) and masks.dtype == tf.int32
            count += len(images)
        assert count == sizes[name]
    assert data.eval_ds is data.test


def test_pet_data_refuses_an_unknown_split(fast_data):
    with pytest.raises(ProjectError, match="split must be one of"):
        fast_data[1].dataset("train_stats")


@pytest.mark.parametrize("augment", ["none", "flip", "full"])
def test_make_datasets_fast_with_augment(tmp_path, augment):
    config = fast_config(
        cache_dir=str(tmp_path), max_images=8, img_size=16, augment=augment
    )
    data = make_datasets(config)
    # Keras's losses check the static rank, so no augmentation may lose it.
    image_spec, mask_spec = data.train.element_spec
    assert image_spec.shape.as_list() == [None, 16, 16, 3]
    assert mask_spec.shape.as_list() == [None, 16, 16, 1]
    images, masks = take_examples(data.train, 3)
    assert images.shape == (3, 16, 16, 3) and masks.shape == (3, 16, 16)


def test_make_datasets_random_split_evaluates_on_val(tmp_path):
    config = fast_config(
        cache_dir=str(tmp_path), max_images=8, img_size=16, split="random"
    )
    data = make_datasets(config)
    assert data.eval_split == "val" and data.eval_ds is data.val
    assert len(data.splits["test"]) == 0
