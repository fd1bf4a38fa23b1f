# ---
# jupyter:
#   accelerator: GPU
#   colab:
#     gpuType: T4
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: accelerator,colab
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Session 18: U-Net image segmentation from scratch
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/OWNER/REPO/blob/main/S18_UNet.ipynb)
#
# We train a U-Net to label every pixel of a pet photo as **pet**, **background**
# or **border**, using the trimaps of the Oxford-IIIT Pet dataset
# (Parkhi et al., CVPR 2012; CC BY-SA 4.0).
#
# A U-Net has two halves. The **contracting path** (encoder) repeats
# convolutions and 2x2 down-sampling: the feature maps shrink from 128x128 to
# 8x8 while the channels grow from 32 to 512, so each unit sees more context.
# The **expanding path** (decoder) up-samples back to 128x128. **Skip
# connections** concatenate each encoder block's output to the decoder block of
# the same size, handing back the fine detail that down-sampling threw away.
# A 1x1 convolution turns the last 32 channels into 3 class scores per pixel.
#
# By default this notebook is the real thing: the full dataset (downloaded
# once), 20 epochs, batch 32. With `S18_FAST=1` it runs in a few
# minutes on tiny synthetic pets, which is how the tests execute it.

# %% [markdown]
# ## Setup
#
# On Colab, which opens only this file, fetch this repository at `REPO_REF`
# into `/content/s18_unet` so that `utils` imports; change either setting and
# run the cell again to switch. Whoever publishes the repository sets both
# once with `python -m utils.repo set URL --ref REF`. Elsewhere this cell
# does nothing.

# %%
import subprocess
import sys

REPO_URL = "https://github.com/OWNER/REPO"
REPO_REF = "main"
CHECKOUT = "/content/s18_unet"
if "google.colab" in sys.modules:
    if REPO_URL.startswith("https://github.com/OWNER/"):
        raise RuntimeError("Set REPO_URL above to this project's GitHub address.")
    git = ["git", "-C", CHECKOUT]
    subprocess.run(["git", "init", "--quiet", CHECKOUT], check=True)
    got = subprocess.run([*git, "fetch", "-q", REPO_URL, REPO_REF], capture_output=True)
    if got.returncode:
        raise RuntimeError(f"Cannot fetch {REPO_REF} from {REPO_URL}: check both.")
    subprocess.run([*git, "checkout", "-q", "--force", "FETCH_HEAD"], check=True)
    sys.path[:] = [CHECKOUT] + [p for p in sys.path if p != CHECKOUT]
    for name in [m for m in sys.modules if m.split(".")[0] == "utils"]:
        del sys.modules[name]  # so a re-run imports the checkout just fetched

# %% [markdown]
# Import the project's code: one module per concept in `utils/`.

# %%
import keras
from IPython.display import Markdown, display

from utils import colab, evaluate, figures, pipeline, plots, report, train
from utils import upload, variants, viewer
from utils.config import config_from_env
from utils.model import build_unet, count_params

# %% [markdown]
# Create the one config that holds every setting. `S18_*` environment
# variables (see README) steer it without editing; overrides stay visible here.

# %%
config = config_from_env()
config.augment = "none"  # the reference trained without augmentation
config

# %% [markdown]
# On Colab, keep the run folder (checkpoints, resume backup, log) and the
# downloaded archives on Google Drive, so a disconnect loses neither, but
# extract the images to the runtime's own disk (`/content/data`), which reads
# them far faster than Drive; `DRIVE_DIR = None` keeps everything on the
# runtime's disk. Colab's widget manager is turned on for the viewer.

# %%
DRIVE_DIR = "/content/drive/MyDrive/s18_unet"
colab.use_drive_storage(config, DRIVE_DIR)
colab.enable_colab_widgets()

# %% [markdown]
# Use the GPU when there is one, with mixed precision and XLA compilation,
# which are made for it; on CPU the run stays in float32 without XLA, and the
# cell says what the default run then costs.

# %%
device = colab.configure_device()
config.mixed_precision = device["mixed_precision"]
config.jit_compile = device["jit_compile"]
print(colab.format_device_report(device))
if not device["gpus"]:
    print(colab.cpu_cost_notice())

# %% [markdown]
# Seed Python, NumPy and TensorFlow once, so a CPU run repeats exactly (the
# split has its own seeded generator).

# %%
keras.utils.set_random_seed(config.seed)

# %% [markdown]
# ## Data
#
# Find the data (download, local folder, or synthetic in fast mode), validate
# every pair and split it. The report names each skipped file and why; the
# split sizes and this machine are recorded in the run folder.

# %%
data = pipeline.make_datasets(config)
report.save_run_record(data, config.run_dir)
print(data["report"].summary())
{name: len(pairs) for name, pairs in data["splits"].items()}

# %% [markdown]
# Look at a few training pairs: images are float32 in [0, 1], masks hold the
# classes 0 = pet, 1 = background, 2 = border (trimap values 1, 2, 3 minus 1).

# %%
images, masks = pipeline.take_examples(data["train"], 3)
plots.plot_examples(images, masks)

# %% [markdown]
# ## Model
#
# Build the reference U-Net and compile it with Adam and sparse categorical
# cross-entropy on logits. One change from the reference: it called
# `BatchNormalization(...)(x, training=False)`, which freezes BN in inference
# mode for the whole run, so it never uses batch statistics and its moving
# averages never move. Here Keras picks the mode: batch statistics while
# training, moving averages when predicting.

# %%
model = train.build_model(config, steps_per_epoch=len(data["train"]))
model.summary()

# %% [markdown]
# The parameter count does not depend on the image size: it is the reference's.

# %%
# NBVAL_CHECK_OUTPUT
count_params(build_unet())

# %% [markdown]
# ## Train
#
# Train with a CSV log, a best-model checkpoint on validation mean IoU and a
# resume backup: re-running this cell after a disconnect continues from the
# last finished epoch, and a finished run is loaded instead of retrained. One
# log line per epoch; the picture below it shows a training image's prediction.
#
# Validation tells the truth at every epoch. BatchNorm predicts with moving
# averages of its batch statistics (momentum 0.99: a memory of about 100
# steps), which trail the weights when an epoch has only a few steps. So before
# each validation its statistics are re-estimated on the training images under
# the current weights ("precise BN"; no weight changes, training unaffected):
# the logged validation scores, the best checkpoint and the preview all
# describe the model as it would predict at that moment.

# %%
callbacks = [] if config.fast else [viewer.PredictionCallback(images[0], masks[0])]
history = train.fit_resumable(model, data, config, callbacks, verbose=2)
history.round(4)

# %% [markdown]
# ## Curves
#
# Plot loss, pixel accuracy and mean IoU for training and validation.

# %%
plots.plot_history(history)

# %% [markdown]
# ## Results
#
# Evaluate on the held-out split (the official test list, or validation for
# the reference's random split), beside the majority-class baseline.

# %%
eval_split = data["eval_split"]
scores = evaluate.evaluate_model(model, data[eval_split])
evaluate.save_evaluation(scores, config.run_dir, eval_split)
display(Markdown(f"**{eval_split} split**\n\n" + evaluate.format_scores(scores)))

# %% [markdown]
# The confusion matrix, normalised per true class, shows where pixels go wrong.

# %%
plots.plot_confusion(scores)

# %% [markdown]
# Per-class IoU against the baseline that always predicts the majority class.

# %%
plots.plot_class_iou(scores)

# %% [markdown]
# ## Predictions
#
# Predict the held-out split once, in batches, and show image, truth,
# prediction and overlay with each image's IoU.

# %%
predictions = {eval_split: evaluate.predict_masks(model, data[eval_split])}
plots.plot_predictions(*(array[:4] for array in predictions[eval_split]))

# %% [markdown]
# Mark the wrongly labelled pixels in red.

# %%
plots.plot_error_map(*(array[:4] for array in predictions[eval_split]))

# %% [markdown]
# Explore every image with the viewer: slider, split, opacity, error map.

# %%
if "val" not in predictions:
    predictions["val"] = evaluate.predict_masks(model, data["val"])
viewer.make_viewer(predictions)

# %% [markdown]
# Segment a photo of your own pet: it is decoded and resized by the dataset code.

# %%
upload.make_upload_widget(model, config.img_size)

# %% [markdown]
# ## Variants
#
# The assignment's four U-Nets, each trained with the same seed, split and
# epoch budget (`config.variant_epochs`). "BCE" in the assignment is the
# sparse categorical cross-entropy on logits used above, since there are 3
# classes; Dice is a multi-class soft Dice. Finished variants are reloaded.

# %%
comparison = variants.run_variants(config, data)
display(Markdown(variants.format_variants_table(comparison, config, data)))

# %% [markdown]
# Compare the variants' validation mean IoU epoch by epoch.

# %%
variant_curves = variants.plot_variant_curves(variants.load_variant_histories(config))
variant_curves

# %% [markdown]
# Compare their predictions on the same validation images.

# %%
images, masks, _ = predictions["val"]
variant_grid = variants.plot_variant_predictions(
    variants.predict_variants(config, data), images, masks
)
variant_grid

# %% [markdown]
# ## Save the figures
#
# Write the README's figures into `images/` (the run folder in fast mode, so a
# test run never replaces the real ones).

# %%
figure_dir = f"{config.run_dir}/figures" if config.fast else "images"
saved = figures.save_readme_figures(
    figure_dir, history, *predictions[eval_split], scores, model
)
variant_figures = {
    "variant_curves": variant_curves,
    "variant_predictions": variant_grid,
}
saved |= figures.save_figures(figure_dir, variant_figures)
sorted(saved)
