"""The notebook's reader sees the real model code and a run summed up from scores."""

import numpy as np
import pandas as pd

from utils.lesson import source_markdown, summarize_findings, worst_confusion
from utils.metrics import scores_from_confusion
from utils.model import conv_block, decoder_block

CONFUSION = [[2, 1, 0], [0, 4, 1], [1, 0, 1]]


def test_source_markdown_fences_the_functions_in_order():
    text = source_markdown(conv_block, decoder_block)
    assert text.startswith("```python\ndef conv_block(") and text.endswith("\n```")
    assert text.index("def conv_block") < text.index("def decoder_block")
    assert "layers.Concatenate(axis=-1)([x, skip])" in text


def test_worst_confusion_is_relative_to_the_true_class():
    # 1 of 2 border pixels -> pet (50%) beats 1 of 3 pet -> background (33%),
    # though every error is a single pixel.
    scores = dict(scores_from_confusion(np.array(CONFUSION)), confusion=CONFUSION)
    true, predicted, share = worst_confusion(scores)
    assert (true, predicted, share) == ("border", "pet", 0.5)


def test_summarize_findings_states_scores_weakest_class_and_variants():
    scores = dict(scores_from_confusion(np.array(CONFUSION)), confusion=CONFUSION)
    variants = pd.DataFrame(
        {"variant": ["A", "B", "C"], "val_mean_iou": [0.5, 0.625, 0.25]}
    )
    text = summarize_findings(scores, variants)
    assert "mean IoU 0.500 against 0.167 for always answering 'background'" in text
    assert "'border' is the weakest class (IoU 0.333; 'background' 0.667)" in text
    assert "50.0% of 'border' pixels are called 'pet'" in text
    assert "B scored highest (val mean IoU 0.625), C lowest (0.250)" in text
    assert "Variants" not in summarize_findings(scores)
