"""`python -m tools.check_data DIR`: the validation report of a data folder.

It pairs images and trimaps by stem, decodes every pair, and names each
skipped file and why; with the release's split lists it also names what the
official split leaves out.
"""

from __future__ import annotations

if __name__ == "__main__":
    # Load TensorFlow with its start-up log muted before utils loads it.
    from utils.config import start_tensorflow_quietly

    start_tensorflow_quietly()

from utils.config import report_errors
from utils.data import split_pairs
from utils.pipeline import scan_pets
from utils.config import OneLineParser


@report_errors
def main(argv: list[str] | None = None) -> None:
    """Print the scan report of a folder in the release's layout."""
    parser = OneLineParser(prog="python -m tools.check_data")
    parser.add_argument("data_dir", help="a folder holding images/ and annotations/")
    report = scan_pets(parser.parse_args(argv).data_dir)
    annotations = report.data_dir / "annotations"
    if all((annotations / f"{name}.txt").is_file() for name in ("trainval", "test")):
        split_pairs(report.pairs, report.data_dir, skipped=report.skipped)
    print(report.summary())


if __name__ == "__main__":
    main()
