"""Build oxford_pets_mini, the 414-pair slice the committed results come from.

`python -m tools.mini --out DIR` downloads the official release (as the
notebook does) and copies the pairs listed in tools/oxford_pets_mini.txt into
DIR in the release's layout, with list.txt, trainval.txt and test.txt kept to
those pairs as the slice has them. `--archives FOLDER` takes images.tar.gz and
annotations.tar.gz from a folder instead of downloading them.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from utils.config import ProjectError, report_errors
from utils.sources import PETS_ARCHIVES, download_pets, extract_tar_safely
from utils.config import OneLineParser

STEMS = Path(__file__).with_name("oxford_pets_mini.txt")
SPLIT_FILES = ("trainval", "test")
# Files of the release's annotations folder the slice keeps as they are.
KEPT_FILES = ("README", "._trimaps")


def read_stems(path: Path = STEMS) -> dict[str, str]:
    """stem -> the split list holding it in the slice: trainval, test or none."""
    lines = [line.split() for line in path.read_text().splitlines()]
    return {words[0]: words[1] for words in lines if words and words[0][0] != "#"}


def filter_list(source: Path, keep: set[str], header: bool = False) -> str:
    """The lines of a release list file whose stem is in `keep` (and its '#' header)."""
    lines = source.read_text().splitlines()
    kept = [
        line
        for line in lines
        if (header and line.startswith("#")) or (line.split() or [""])[0] in keep
    ]
    return "".join(line + "\n" for line in kept)


def build_mini(release: Path, out: Path, stems: dict[str, str]) -> Path:
    """Copy the listed pairs of an extracted release into `out`; return `out`."""
    release, out = Path(release), Path(out)
    trimaps = out / "annotations" / "trimaps"
    (out / "images").mkdir(parents=True, exist_ok=True)
    trimaps.mkdir(parents=True, exist_ok=True)
    for stem in stems:
        image = release / "images" / f"{stem}.jpg"
        trimap = release / "annotations" / "trimaps" / f"{stem}.png"
        for path in (image, trimap):
            if not path.is_file():
                raise ProjectError(
                    f"{path} is missing: {release} is not the full release."
                )
        shutil.copy2(image, out / "images" / image.name)
        shutil.copy2(trimap, trimaps / trimap.name)
    annotations = release / "annotations"
    text = filter_list(annotations / "list.txt", set(stems), header=True)
    (out / "annotations" / "list.txt").write_text(text)
    for name in SPLIT_FILES:
        listed = {stem for stem, where in stems.items() if where == name}
        text = filter_list(annotations / f"{name}.txt", listed)
        (out / "annotations" / f"{name}.txt").write_text(text)
    for name in KEPT_FILES:
        if (annotations / name).is_file():
            shutil.copy2(annotations / name, out / "annotations" / name)
    return out


@report_errors
def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m tools.mini`."""
    parser = OneLineParser(prog="python -m tools.mini")
    parser.add_argument("--out", required=True, help="folder to write the slice to")
    parser.add_argument(
        "--archives", help="folder holding images.tar.gz and annotations.tar.gz"
    )
    parser.add_argument("--cache-dir", default="data", help="where downloads go")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        if args.archives:
            release = Path(scratch) / "release"
            for name in PETS_ARCHIVES:
                extract_tar_safely(Path(args.archives) / name, release)
        else:
            release = download_pets(args.cache_dir)
        out = build_mini(release, Path(args.out), read_stems())
    print(f"{out}: {len(read_stems())} image/trimap pairs")


if __name__ == "__main__":
    main()
