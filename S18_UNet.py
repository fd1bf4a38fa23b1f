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
# You will see the model's own code block by block, how pixel accuracy, IoU
# and Dice score a segmentation, how training goes, where the model fails, and
# how four variants of the design compare. "The reference" below is the
# course's reference notebook for this session: the same U-Net, dataset and
# 20 epochs (at batch 32); it split the images 80/20 at random, which
# `S18_SPLIT=random` reproduces. Its training recipe (Adam at 1e-3,
# cross-entropy, no augmentation) is one setting away; by default this
# notebook trains with a better one, chosen by the recipe ablation
# ([docs/ablation.md](docs/ablation.md)).
#
# **Two modes.** By default (no `S18_*` variables set) the notebook downloads
# the full Oxford-IIIT Pet release once, holds out the official test list and
# trains for 20 epochs at batch 8: a job for a GPU, such as Colab's; on a CPU
# it takes hours ([docs/performance.md](docs/performance.md) gives estimates).
# With `S18_FAST=1` it runs in a few minutes on tiny synthetic pets, which is
# how the tests execute it. The outputs saved in this file come from one
# particular run: the **Run** line under "Results", generated from that run's
# record, says which data, split, epochs and machine produced them.

# %% [markdown]
# ## Setup
#
# On Colab, which opens only this file, clone this repository at `REPO_REF`
# (a branch or tag) once, so that `utils` imports; to switch, delete
# `/content/s18_unet` and run the cell again. Elsewhere this cell does nothing.
# Whoever publishes the repository sets both names with
# `python -m tools.repo set URL`.

# %%
import os
import subprocess
import sys

REPO_URL = "https://github.com/OWNER/REPO"
REPO_REF = "main"
CHECKOUT = "/content/s18_unet"
if "google.colab" in sys.modules:
    if not os.path.isdir(CHECKOUT):
        clone = ["git", "clone", "-q", "-b", REPO_REF, REPO_URL, CHECKOUT]
        subprocess.run(clone, check=True)  # git says above what went wrong
    if CHECKOUT not in sys.path:
        sys.path.insert(0, CHECKOUT)

# %% [markdown]
# Load TensorFlow with its native start-up log muted (GPU probing notes that
# would show in red below the cell); Python warnings still show.

# %%
from utils.config import start_tensorflow_quietly

gpus = start_tensorflow_quietly()

# %% [markdown]
# Import the project's code: one module per chapter of this lesson in `utils/`.

# %%
import keras
import numpy as np
from IPython.display import Markdown, display

from utils import config as settings
from utils import evaluate, losses, notebook, pipeline, plots, runs, train
from utils import variants, viewer
from utils.callbacks import make_callbacks
from utils.config import CLASS_NAMES, REFERENCE_RECIPE, config_from_env
from utils.model import build_unet, conv_block, decoder_block, encoder_block
from utils.model import plot_architecture

# %% [markdown]
# Create the one config that holds every setting. `S18_*` environment
# variables ([docs/settings.md](docs/settings.md)) steer it without editing;
# overrides stay visible here.

# %%
config = config_from_env()
config

# %% [markdown]
# Its training recipe is the "batch-8" line of the recipe ablation
# ([docs/ablation.md](docs/ablation.md)), the best of the lines there that beat
# the reference's recipe on both seeds: left-right flips, AdamW with weight
# decay 0.05 (kernels only), one warm-up epoch then cosine decay,
# cross-entropy + Dice, which rewards overlap directly, and batches of 8.
# Batch 32 gives only 220 optimizer steps in 20 epochs on 331 images, and
# runs still improved at their last epoch; batch 8 gives about four times as
# many in the same epochs. Random crops and colour jitter scored below flips alone
# on both seeds, so they stay out. Compare it with the reference's recipe,
# which `config_from_env(**REFERENCE_RECIPE, run_dir="runs/reference")` trains
# instead.

# %% tags=["nbval-check-output"]
recipes = {"this notebook": vars(config), "the reference": REFERENCE_RECIPE}
Markdown("\n".join(f"- {k}: {settings.describe_recipe(v)}" for k, v in recipes.items()))

# %% [markdown]
# On Colab, keep the run folder (checkpoints, resume backup, log) and the
# downloaded archives on Google Drive, so a disconnect loses neither, but
# extract the images to the runtime's own disk (`/content/data`), which reads
# them far faster than Drive; `DRIVE_DIR = None` keeps everything on the
# runtime's disk. Colab's widget manager is turned on for the viewer.

# %%
DRIVE_DIR = "/content/drive/MyDrive/s18_unet"
notebook.use_drive_storage(config, DRIVE_DIR)
notebook.enable_colab_widgets()

# %% [markdown]
# Choose the precision from the device: mixed float16 and XLA on a GPU, mixed
# bfloat16 on a CPU with native bfloat16 instructions, float32 otherwise
# (`config.precision` overrides it). Variables, logits and losses stay
# float32 either way. On a CPU the cell warns that the default job takes hours.

# %%
device = train.configure_device(config.precision)
config.precision, config.jit_compile = device["precision"], device["jit"]
print(train.format_device_report(device))
if not device["gpus"]:
    print(notebook.CPU_NOTE)

# %% [markdown]
# Seed Python, NumPy and TensorFlow once, so a CPU run repeats exactly (the
# split has its own seeded generator).

# %%
keras.utils.set_random_seed(config.seed)

# %% [markdown]
# ## Data
#
# Each photo comes with a **trimap**, a mask of the same size that gives every
# pixel one of three values: 1 = pet, 2 = background, 3 = border. The border is
# a band a few pixels wide along the pet's outline, where the annotators could
# not say which side a pixel belongs to (fur, blur, pixels that mix both). The
# model learns it as a class of its own, and it is the hardest one: thin, and
# looking like both of its neighbours. Keras counts classes from 0, so the
# pipeline subtracts 1: **0 = pet, 1 = background, 2 = border**.
#
# **The split.** The release ships two lists, `trainval.txt` and `test.txt`.
# By default (`split="official"`) the test list is held out for the final
# evaluation and a seeded 20 % of trainval becomes validation, watched during
# training. The reference instead shuffled all pairs with a fixed seed and
# kept 80 % for training and 20 % for validation, and evaluated on validation
# (`S18_SPLIT=random`). The same seed gives the same split on any machine.
#
# Find the data (download, local folder, or synthetic in fast mode), validate
# every pair and split it. The report names each skipped file and why.

# %%
data = pipeline.make_datasets(config)
print(data.report.summary())
data.sizes()

# %% [markdown]
# Look at a few training pairs: images are float32 in [0, 1], masks hold the
# classes 0 = pet, 1 = background, 2 = border (trimap values 1, 2, 3 minus 1).

# %%
images, masks = pipeline.take_examples(data.train, 3)
plots.plot_examples(images, masks)

# %% [markdown]
# ## Model
#
# `build_unet` in `utils/model.py` assembles the U-Net from three small
# blocks. The cells below print the source of all four as it is (read with
# `inspect`), so what you read is what runs. Shapes are for a batch of 128x128
# RGB images.
#
# **Convolution block.** Two 3x3 convolutions with ReLU. `padding="same"`
# keeps height and width; the channels become `filters`: (H, W, C) ->
# (H, W, filters). Two stacked 3x3 convolutions see a 5x5 window.

# %%
Markdown(notebook.source_markdown(conv_block))

# %% [markdown]
# **Encoder block.** A convolution block, BatchNorm, dropout in the two
# deepest blocks, then down-sampling: max-pooling halves height and width,
# (H, W, filters) -> (H/2, W/2, filters). It returns two tensors. The **skip**
# is taken *before* pooling: it keeps the full H x W detail (exact edges, the
# thin border) that pooling throws away, and it has the size the decoder will
# rebuild, so the two can be stacked there. The deepest block (512 channels at
# 8x8) does not pool.

# %%
Markdown(notebook.source_markdown(encoder_block))

# %% [markdown]
# **Decoder block.** A 3x3 transposed convolution with stride 2 doubles height
# and width, (H, W, C) -> (2H, 2W, filters); the encoder's skip of that size is
# concatenated on the channels, giving 2 x filters, and a convolution block
# mixes coarse context with fine detail back to (2H, 2W, filters).

# %%
Markdown(notebook.source_markdown(decoder_block))

# %% [markdown]
# **Assembly.** Five encoder blocks take 128x128x3 through 32, 64, 128, 256
# and 512 channels down to 8x8; four decoder blocks climb back to 128x128x32,
# each taking the matching skip; a last 3x3 convolution and a 1x1 convolution
# give 3 logits (unnormalised class scores) per pixel. The arguments select the
# variants compared at the end.

# %%
Markdown(notebook.source_markdown(build_unet))

# %% [markdown]
# Build the reference U-Net in the chosen precision. One change from the
# reference: it called `BatchNormalization(...)(x, training=False)`, which
# freezes BN in inference mode for the whole run, so it never uses batch
# statistics and its moving averages never move. Here Keras picks the mode:
# batch statistics while training, moving averages when predicting.

# %%
with train.precision_policy(config.precision):
    model = build_unet(
        config.img_size,
        len(CLASS_NAMES),
        config.dropout,
        config.downsample,
        config.upsample,
    )

# %% [markdown]
# Compile it with the config's recipe (listed under Setup): the optimizer
# and its learning-rate schedule, the loss, which reads the logits (not
# probabilities), and the metrics logged at every epoch: pixel accuracy, mean
# IoU, and IoU and Dice per class.

# %%
model.compile(
    optimizer=train.make_optimizer(config, steps_per_epoch=len(data.train)),
    loss=losses.make_loss(config.loss),
    metrics=evaluate.make_metrics(),
    jit_compile=config.jit_compile,
)

# %% [markdown]
# The architecture, drawn from the model's own layers: each box is a block
# with its output shape, arrows across are the skip connections.

# %%
plot_architecture(model)

# %% [markdown]
# `model.summary()` lists every layer with its output shape and parameters.

# %%
model.summary()

# %% [markdown]
# The parameter count is the reference's, and it does not depend on the image
# size: convolutions share their weights across pixels. Count it at two sizes.

# %% tags=["nbval-check-output"]
{img_size: build_unet(img_size).count_params() for img_size in (128, 256)}

# %% [markdown]
# ## Metrics
#
# Three numbers score a predicted mask against the true one. For a class
# $c$, count its pixels: $TP_c$ predicted $c$ and truly $c$, $FP_c$ predicted
# $c$ but truly another class, $FN_c$ truly $c$ but predicted another. With $N$
# pixels and $C = 3$ classes:
#
# $$\text{pixel accuracy} = \frac{1}{N}\sum_{c} TP_c \qquad
# \text{IoU}_c = \frac{TP_c}{TP_c + FP_c + FN_c} \qquad
# \text{Dice}_c = \frac{2\,TP_c}{2\,TP_c + FP_c + FN_c}$$
#
# IoU (intersection over union, or Jaccard index) is the overlap of the
# predicted and true regions of a class divided by their union; Dice (the F1
# score) counts the overlap twice, so it is never below IoU. **Mean IoU** and
# **mean Dice** average over the classes, each class weighing the same
# however many pixels it covers.
#
# A worked example on 4x4 masks: a pet in the lower right corner, a border
# around it, background elsewhere. The prediction finds the pet but calls
# three border pixels pet or background. Rows of the confusion matrix are the
# true classes (pet, background, border), columns the predicted ones.

# %% tags=["nbval-check-output"]
truth = np.array([[1, 1, 1, 1], [1, 2, 2, 2], [1, 2, 0, 0], [1, 2, 0, 0]])
guess = np.array([[1, 1, 1, 1], [1, 1, 2, 1], [1, 0, 0, 0], [1, 2, 0, 0]])
toy_confusion = evaluate.confusion_matrix(truth, guess, num_classes=3)
toy_confusion

# %% [markdown]
# The project's own scores on it, computed from that matrix.
# Border: $TP = 2$, $FN = 3$, $FP = 0$, so IoU $= 2/5$; pet: IoU $= 4/(4+1)$.

# %% tags=["nbval-check-output"]
Markdown(evaluate.format_scores(evaluate.scores_from_confusion(toy_confusion)))

# %% [markdown]
# 13 of 16 pixels are right, yet the border, the class that was missed, has
# a poor IoU. The **majority-class baseline** always answers the commonest
# class, here background (7 of 16 pixels): its pixel accuracy is 7/16 while
# its mean IoU is only a third of that, since pet and border score 0. In real
# photos background also covers the largest share of pixels, so pixel
# accuracy starts high for free; mean IoU, where each class counts alike, is
# the number to watch, always beside the baseline.

# %% [markdown]
# ## Train
#
# Make the callbacks `fit` runs around each epoch: a CSV log, a best-model
# checkpoint on validation mean IoU, a resume backup, and a live preview of
# one training image's prediction. The same call prepares the run folder:
# it refuses a folder of other settings or a damaged file, and records the
# data and this machine there.
#
# Validation tells the truth at every epoch. BatchNorm predicts with moving
# averages of its batch statistics (momentum 0.99: a memory of about 100
# steps), which trail the weights when an epoch has only a few steps. So just
# before each validation its statistics are re-estimated on training images
# under the current weights ("precise BN"; no weight changes, training
# unaffected): the logged validation scores, the best checkpoint and the
# preview all describe the model as it would predict at that moment.

# %%
callbacks = make_callbacks(config, data, preview=(images[0], masks[0]))
[type(callback).__name__ for callback in callbacks]

# %% [markdown]
# Train. Each epoch prints one log line, and the preview below it changes.
# After a disconnect, run the cells again: the backup callback restores the
# last finished epoch and `fit` continues from there (a finished run trains
# no further epoch). `finish_run` then saves `final.keras` and returns the log.

# %%
model.fit(
    data.train,
    validation_data=data.val,
    epochs=config.epochs,
    callbacks=callbacks,
    shuffle=False,  # the tf.data pipeline shuffles, anew each epoch
    verbose=2,
)
history = train.finish_run(model, config)
evaluate.history_table(history)

# %% [markdown]
# Scale this run's epoch time to the default job on the full release, on this
# machine: the time an epoch takes grows with the images it trains on.

# %%
print(notebook.cpu_cost_notice(config.run_dir))

# %% [markdown]
# ## Curves
#
# Plot loss, pixel accuracy and mean IoU for training and validation.

# %%
plots.plot_history(history)

# %% [markdown]
# ## Results
#
# Which run produced the training log and curves above and every result
# below, read from its run folder:

# %%
Markdown(runs.describe_run(config.run_dir))

# %% [markdown]
# Predict the held-out split (the official test list, or validation for the
# reference's random split) once, in batches, and score it beside the
# majority-class baseline; the figures below reuse these predictions.

# %%
eval_split = data.eval_split
predictions = {eval_split: evaluate.predict_split(model, data.eval_ds)}
scores = evaluate.score_predictions(predictions[eval_split])
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
# Choose the examples every figure below shows, by one rule: for cats and
# for dogs (the release names cat breeds with a capital letter), the images
# with the lowest, the median and the highest mean IoU, so good and bad
# cases of both species appear.

# %%
stems = [pair.stem for pair in data.splits[eval_split]]
chosen = evaluate.pick_examples(predictions[eval_split], stems)
examples = predictions[eval_split].take(chosen)
names = [stems[index] for index in chosen]
names

# %% [markdown]
# Show each chosen image, its true trimap, the prediction and an overlay.

# %%
plots.plot_predictions(examples, names)

# %% [markdown]
# Mark the wrongly labelled pixels in red, on a grey copy of each photo so
# that red in the photo cannot hide them.

# %%
plots.plot_error_map(examples, names)

# %% [markdown]
# Explore every image with the viewer: slider, split, opacity, error map.
# It opens on the first chosen example; below it, a still picture of that
# view, for pages that show no widgets.

# %%
if "val" not in predictions:
    predictions["val"] = evaluate.predict_split(model, data.val)
view = viewer.make_viewer(predictions, start=(eval_split, chosen[0]))
display(view)
view.figure

# %% [markdown]
# Segment a photo of your own pet: it is decoded and resized by the dataset
# code. Below the picker, the same steps run on a held-out photo of a breed
# none of the examples above shows, as if it had been uploaded.

# %%
display(viewer.make_upload_widget(model, config.img_size))
photo = evaluate.pick_upload_example(data.splits[eval_split], names)
image, pred_mask = viewer.segment_image_bytes(
    model, photo.read_bytes(), config.img_size
)
plots.render_example(image, None, pred_mask, title=f"as an upload: {photo.name}")

# %% [markdown]
# ## Variants
#
# The assignment's four U-Nets, each trained with the same seed, split and
# epoch budget (`config.variant_epochs`) and the config's recipe, except the
# loss each one names. "BCE" in the assignment is the sparse categorical
# cross-entropy on logits, since there are 3 classes; Dice is a multi-class
# soft Dice.

# %%
comparison = variants.run_variants(config, data)
display(Markdown(variants.format_variants_table(comparison, config, data)))

# %% [markdown]
# Compare the variants' validation mean IoU epoch by epoch.

# %%
variant_curves = variants.plot_variant_curves(variants.load_variant_histories(config))
variant_curves

# %% [markdown]
# Compare their predictions on the chosen examples.

# %%
variant_masks = variants.predict_variants(config, examples.images)
variant_grid = variants.plot_variant_predictions(
    variant_masks, examples.images, examples.masks
)
variant_grid

# %% [markdown]
# ## Save the figures
#
# Write the README's figures into `images/` (the run folder in fast mode, so a
# test run never replaces the real ones).

# %%
figure_dir = f"{config.run_dir}/figures" if config.fast else "images"
saved = plots.save_readme_figures(figure_dir, history, examples, scores, names)
more = {"architecture": plot_architecture(model), "variant_curves": variant_curves}
saved |= plots.save_figures(figure_dir, more | {"variant_predictions": variant_grid})
sorted(saved)

# %% [markdown]
# ## Conclusion
#
# What this run learned and where it fails, in numbers from its own scores
# (held-out split, final model) and the variants' table:

# %%
Markdown(notebook.summarize_findings(scores, comparison))

# %% [markdown]
# Look at the error map above: the red pixels gather along the outlines,
# with larger patches where pet and background look alike. The outline is
# where the border class lives: a thin band whose pixels look like both
# neighbours and whose exact width even the annotators could not fix. A class
# that small and that ambiguous pulls mean IoU down, while pixel accuracy,
# dominated by background, flatters the model. The variants change one design
# choice at a time (down-sampling, up-sampling, loss) on the same data, seed
# and budget; each was trained once, so small gaps between them may not
# survive another seed: read the table as a first look, not a verdict.
#
# ## Exercises
#
# 1. Train the reference's recipe
#    (`config_from_env(**REFERENCE_RECIPE, run_dir="runs/reference")`), or add
#    random crops and colour jitter (`config.augment = "full"`, in a new
#    `run_dir`), and compare validation mean IoU and the gap between training
#    and validation.
# 2. Remove the skip connections: in a copy of `decoder_block`, skip the
#    `Concatenate`. Where do the predictions lose detail first?
# 3. Weight the cross-entropy towards the border class (`utils/losses.py`),
#    and watch the border's IoU.
# 4. Train at `img_size=256`: the border band gets more pixels. Does its IoU
#    rise, and what does it cost per epoch?
# 5. Run the default job (full release, official split) on a GPU and compare
#    its test scores with the **Run** line of this file.
