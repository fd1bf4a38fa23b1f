"""`python -m tools.variants [training flags]`: the notebook's variant comparison.

It trains (or reloads) the four variants into <out>/variants/<slug>/ on the
data the flags describe, writes the table (variants.csv, variants.md) and
saves the two comparison figures beside it.
"""

from __future__ import annotations

if __name__ == "__main__":
    # Load TensorFlow with its start-up log muted before utils loads it.
    from utils.config import start_tensorflow_quietly

    start_tensorflow_quietly()

import keras

from utils import variants
from utils.config import report_errors
from utils.pipeline import make_datasets, take_examples
from utils.train import parse_args


@report_errors
def main(argv: list[str] | None = None) -> None:
    """Train or reload every variant, then print and save the comparison."""
    config = parse_args(argv, prog="python -m tools.variants")
    keras.utils.set_random_seed(config.seed)
    data = make_datasets(config)
    table = variants.run_variants(config, data)
    print(variants.format_variants_table(table, config, data))
    out = variants.variants_dir(config)
    histories = variants.load_variant_histories(config)
    variants.plot_variant_curves(histories).savefig(out / "variant_curves.png")
    images, masks = take_examples(data.val, 4)
    predicted = variants.predict_variants(config, images)
    grid = variants.plot_variant_predictions(predicted, images, masks)
    grid.savefig(out / "variant_predictions.png")
    print(f"variants folder: {out}")


if __name__ == "__main__":
    main()
