"""One prediction pass: a model's masks for a split, kept compactly as uint8."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import keras
import numpy as np

from utils.metrics import confusion_matrix


@dataclasses.dataclass(frozen=True)
class Predictions:
    """A split's images, true masks and predicted masks, in the dataset's order.

    images (N, S, S, 3) uint8 0..255, the pixels the pipeline divides by 255;
    masks, pred_masks (N, S, S) uint8 class ids.
    """

    images: np.ndarray
    masks: np.ndarray
    pred_masks: np.ndarray

    def __len__(self) -> int:
        """Number of images."""
        return len(self.images)

    def head(self, count: int) -> Predictions:
        """The first `count` images with their masks."""
        return Predictions(
            self.images[:count], self.masks[:count], self.pred_masks[:count]
        )

    def confusion(self, num_classes: int) -> np.ndarray:
        """(C, C) int64 pixel counts; rows are true classes, columns predictions."""
        return confusion_matrix(self.masks, self.pred_masks, num_classes)

    @classmethod
    def concatenate(cls, parts: list[Predictions]) -> Predictions:
        """One Predictions holding `parts` one after the other."""
        return cls(
            *(
                np.concatenate([getattr(part, field.name) for part in parts])
                for field in dataclasses.fields(cls)
            )
        )


def predict_batch(model: keras.Model, images) -> np.ndarray:
    """(B, S, S, 3) float32 images in [0, 1] -> (B, S, S) uint8 predicted class ids."""
    # A direct call, not predict_on_batch: no retracing for the last,
    # smaller batch or for each new model compared.
    logits = model(images, training=False)
    return np.argmax(logits, axis=-1).astype(np.uint8)


def predict_image(model: keras.Model, image: np.ndarray) -> np.ndarray:
    """(S, S, 3) float32 image in [0, 1] -> (S, S) uint8 predicted class ids."""
    return predict_batch(model, image[None])[0]


def predict_batches(model: keras.Model, ds) -> Iterator[Predictions]:
    """Run `model` once on each batch of `ds`; yield each batch's Predictions.

    `ds` yields (image (B, S, S, 3) float32 [0, 1], mask (B, S, S, 1)) batches.
    """
    for image, mask in ds:
        # The pipeline divides uint8 pixels by 255, so rounding restores them
        # exactly, in a quarter of the memory.
        pixels = np.rint(np.asarray(image) * 255).astype(np.uint8)
        masks = np.asarray(mask)[..., 0].astype(np.uint8)
        yield Predictions(pixels, masks, predict_batch(model, image))


def predict_split(model: keras.Model, ds) -> Predictions:
    """Every image of the batched dataset `ds` with its true and predicted mask."""
    return Predictions.concatenate(list(predict_batches(model, ds)))
