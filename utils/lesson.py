"""Text for the notebook's reader: the project's own code, and a run in words."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd


def source_markdown(*functions) -> str:
    """The source of each function as one fenced Python block (Markdown).

    Read with inspect from the module the model is built from, so what the
    notebook shows cannot drift from what it runs.
    """
    sources = [inspect.getsource(function).rstrip() for function in functions]
    return "```python\n" + "\n\n\n".join(sources) + "\n```"


def worst_confusion(scores: dict) -> tuple[str, str, float]:
    """(true class, predicted class, share of that true class) of the largest error."""
    cm = np.asarray(scores["confusion"], dtype=np.float64)
    shares = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    np.fill_diagonal(shares, 0)
    true, predicted = np.unravel_index(np.argmax(shares), shares.shape)
    names = list(scores["iou"])
    return names[true], names[predicted], float(shares[true, predicted])


def summarize_findings(scores: dict, variants: pd.DataFrame | None = None) -> str:
    """What a run learned, where it fails, what the variants showed (Markdown).

    scores as from evaluate.evaluate_model (with "confusion"); variants as from
    variants.run_variants (columns variant, val_mean_iou).
    """
    iou = scores["iou"]
    weakest, strongest = min(iou, key=iou.get), max(iou, key=iou.get)
    true, predicted, share = worst_confusion(scores)
    lines = [
        f"- **Learned:** mean IoU {scores['mean_iou']:.3f} against "
        f"{scores['majority_mean_iou']:.3f} for always answering "
        f"'{scores['majority_class']}'; pixel accuracy "
        f"{scores['pixel_accuracy']:.3f} against {scores['majority_accuracy']:.3f}.",
        f"- **Fails:** '{weakest}' is the weakest class (IoU {iou[weakest]:.3f}; "
        f"'{strongest}' {iou[strongest]:.3f}). The largest error: "
        f"{share:.1%} of '{true}' pixels are called '{predicted}'.",
    ]
    if variants is not None and len(variants):
        ranked = variants.sort_values("val_mean_iou", ascending=False)
        best, last = ranked.iloc[0], ranked.iloc[-1]
        lines.append(
            f"- **Variants:** {best['variant']} scored highest (val mean IoU "
            f"{best['val_mean_iou']:.3f}), {last['variant']} lowest "
            f"({last['val_mean_iou']:.3f}), on the same budget."
        )
    return "\n".join(lines)
