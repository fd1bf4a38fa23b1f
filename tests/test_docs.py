"""README and docs/: every number tied to its source, links, figures, settings.

A number in README or a docs page is either inside a generated block (the
tools write those from results/), inside code, or a claim below: a phrase
whose captured numbers must equal what results/, the benchmark's output or a
constant of the code says. A number in none of these fails the test, so a
number typed into the prose must come with its check.
"""

import dataclasses
import inspect
import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Callable, NamedTuple

import keras
import numpy as np
import pandas as pd
import pytest

from tools.ablation import CHANGES
from tools.ablation_report import (
    BEGIN as ABLATION_BEGIN,
    END as ABLATION_END,
    REFERENCE_TRAIN_IMAGES,
    REFERENCE_VAL_ACCURACY,
    choose_line,
    render_ablation,
)
from tools.mini import read_stems
from utils import config as config_module
from utils.config import (
    CLASS_NAMES,
    ENV_FAST,
    ENV_FIELDS,
    REFERENCE_RECIPE,
    SWITCH_OFF,
    SWITCH_ON,
    Config,
    ProjectError,
    config_from_env,
    field_problem,
    report_errors,
)
from utils.data import val_count
from utils.notebook import TRAINVAL_IMAGES
from utils.pipeline import resize_mask, scaled_crop
from utils.runs import differing_settings, load_config
from utils.variants import VARIANTS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RESULTS = ROOT / "results"
PAGES = ["README.md", *(f"docs/{p.name}" for p in sorted(DOCS.glob("*.md")))]

GENERATED = re.compile(r"<!-- (\w+):begin -->.*?<!-- \1:end -->", re.S)
FENCED = re.compile(r"^```.*?^```", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]+`")
LINK_TARGET = re.compile(r"\]\([^)\s]*\)")
LIST_MARKER = re.compile(r"^ *\d+\. ", re.M)
# A number: digits, with thousands commas or a decimal point; not part of a
# name such as S18_FAST or float16.
NUMBER = re.compile(r"(?<![A-Za-z_\d.,])\d+(?:[.,]\d+)*")
# Names and the citation that contain digits; they state no measurement.
NAMES = ("Session 18", "UTF-8", "CC BY-SA 4.0", "(CVPR), 2012")
NAMES += tuple(name for name, _, _ in CHANGES)  # the ablation's lines: batch-8
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five"}


def read(page: str) -> str:
    return (ROOT / page).read_text()


def load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def prose_numbers(text: str) -> list[tuple[int, int, str]]:
    """(start, end, number) of each number outside code, blocks, links and names."""
    hidden = [GENERATED, FENCED, INLINE_CODE, LINK_TARGET, LIST_MARKER]
    spans = [m.span() for pattern in hidden for m in pattern.finditer(text)]
    spans += [
        (m.start(), m.end())
        for name in NAMES
        for m in re.finditer(re.escape(name), text)
    ]
    return [
        (m.start(), m.end(), m.group())
        for m in NUMBER.finditer(text)
        if not any(start <= m.start() < end for start, end in spans)
    ]


# --- the sources --------------------------------------------------------------


def benchmark_rows() -> dict[str, list[str]]:
    """results/benchmark.md's table rows: first cell -> the other cells.

    The training table appears twice (the default batch, then the
    reference's); the second one's rows are kept under "batch 32: <name>". So
    do the loader tables (the slice, then the release's size: "release: ").
    """
    rows, prefix = {}, ""
    for line in read("results/benchmark.md").splitlines():
        if line.startswith("## "):
            prefix = ""
        if line.startswith("At the reference's batch"):
            prefix = "batch 32: "
        if line.startswith("At the full release's size"):
            prefix = "release: "
        if line.startswith("|") and not line.startswith("| ---"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[prefix + cells[0]] = cells[1:]
    return rows


def benchmark_machine() -> tuple[str, str, str]:
    """(CPU, cores, TensorFlow version) of the benchmark's machine."""
    text = read("results/benchmark.md")
    match = re.search(
        r"machine: ([\w ]+), (\d+) cores, no GPU, TensorFlow ([\d.]+)", text
    )
    return match.groups()


def bench_settings() -> dict[str, str]:
    """The first benchmark's settings line (`settings: key=value, ...`) as a dict."""
    line = re.search(r"^settings: (.*)$", read("results/benchmark.md"), re.M)
    return dict(item.split("=", 1) for item in line.group(1).split(", "))


# The training rate at the reference's batch, from the second training table.
BATCH_32_RATE = "batch 32: fit, pipeline cached (images/s)"


def rate(name: str) -> float:
    return float(benchmark_rows()[name][0])


def official_epoch() -> dict[str, int]:
    """Images of one epoch of the default job (the official split of the release)."""
    config = Config()
    val = val_count(TRAINVAL_IMAGES, config.val_fraction)
    train = TRAINVAL_IMAGES - val
    return {"train": train, "val": val, "bn": min(config.precise_bn_images, train)}


def cpu_hours() -> tuple[str, str]:
    """Hours of the default job, model and with the variants, at benchmark rates."""
    config, images = Config(), official_epoch()
    train = rate("fit, pipeline cached (images/s)")
    predict = rate("predict_on_batch (images/s)")
    epoch = images["train"] / train + (images["val"] + images["bn"]) / predict
    total = config.epochs + len(VARIANTS) * config.variant_epochs
    return f"{epoch * config.epochs / 3600:.1f}", f"{epoch * total / 3600:.1f}"


def release_steps() -> tuple[str, ...]:
    """Optimizer steps an epoch of the release, at the default and reference batch."""
    train, batch = official_epoch()["train"], Config().batch_size
    reference = REFERENCE_RECIPE["batch_size"]
    steps, steps_then = math.ceil(train / batch), math.ceil(train / reference)
    ratio = NUMBER_WORDS[round(steps / steps_then)]
    return (
        str(batch),
        f"{train:,}",
        f"{steps:,}",
        ratio,
        str(steps_then),
        str(reference),
    )


def readme_run() -> tuple[str, ...]:
    """Held-out scores of the committed run, as README states them."""
    scores = load("evaluation_val.json")
    return (
        f"{scores['pixel_accuracy']:.4f}",
        str(load("data.json")["splits"][scores["split"]]),
        scores["majority_class"],
        f"{scores['majority_accuracy']:.4f}",
    )


def steps_per_epoch() -> tuple[str, str]:
    train, batch = (
        load("data.json")["splits"]["train"],
        load("config.json")["batch_size"],
    )
    return str(train), str(math.ceil(train / batch))


def split_shares() -> tuple[str, str]:
    fraction = load("config.json")["val_fraction"]
    return str(round(100 * (1 - fraction))), str(round(100 * fraction))


def slice_size() -> tuple[str]:
    pairs = load("data.json")["valid_pairs"]
    assert len(read_stems()) == pairs, "the slice's list and the run's record differ"
    return (str(pairs),)


def trimap_classes() -> tuple[str, ...]:
    """Trimap values and the classes they become, in CLASS_NAMES' order."""
    values = np.arange(1, len(CLASS_NAMES) + 1, dtype=np.uint8).reshape(1, -1, 1)
    classes = np.asarray(resize_mask(values, len(CLASS_NAMES)))[0, :, 0]
    assert CLASS_NAMES == ("pet", "background", "border")
    return tuple(map(str, values.ravel())) + tuple(map(str, classes))


def cache_kib() -> tuple[str]:
    size = Config().img_size
    return (str(size * size * (3 + 1) // 1024),)  # uint8 RGB image + trimap


def crop_area() -> tuple[str, str]:
    low = inspect.signature(scaled_crop).parameters["min_area"].default
    return str(round(100 * low)), "100"


def batchnorm_memory() -> tuple[str, str]:
    from utils.model import build_unet

    layers = build_unet(32).layers
    momenta = {
        layer.momentum
        for layer in layers
        if isinstance(layer, keras.layers.BatchNormalization)
    }
    assert len(momenta) == 1, momenta
    momentum = momenta.pop()
    return str(momentum), str(round(1 / (1 - momentum)))


def command_exit_code() -> tuple[str]:
    @report_errors
    def fail(argv=None):
        raise ProjectError("x")

    with pytest.raises(SystemExit) as exit_info:
        fail()
    return (str(exit_info.value.code),)


def problem_numbers(field: str, value) -> tuple[str, ...]:
    return tuple(re.findall(r"\d+", field_problem(field, value)))


def run_time() -> tuple[str, ...]:
    config, images = Config(), official_epoch()
    return (
        f"{images['train']:,}",
        f"{images['val']:,}",
        f"{images['bn']:,}",
        str(config.epochs),
        NUMBER_WORDS[len(VARIANTS)],
        str(config.variant_epochs),
    )


def committed_epochs() -> tuple[str, ...]:
    machine = load("machine.json")
    median = pd.read_csv(RESULTS / "history.csv")["seconds"].median()
    train = load("data.json")["splits"]["train"]
    return f"{median:.0f}", str(train), str(machine["cores"]), machine["cpu"]


def bench(name: str, digits: int | None = None, prefix: str = "", column=0):
    """A benchmark value as the page shows it: as printed, or rounded."""
    value = benchmark_rows()[prefix + name][column]
    if digits is None:
        return value
    return f"{float(value):,.{digits}f}"


class Claim(NamedTuple):
    page: str
    pattern: str  # its groups capture the numbers, in order; a space: any spacing
    expected: Callable[[], tuple[str, ...]]

    def matches(self, text: str) -> list[re.Match]:
        """Every place the page says it, however its lines are wrapped."""
        return list(re.finditer(self.pattern.replace(" ", r"\s+"), text))


CLAIMS = [
    # README
    Claim("README.md", r"a slice of (\d+) image/trimap pairs", slice_size),
    Claim("README.md", r"a seeded (\d+)/(\d+) split of all valid pairs", split_shares),
    Claim(
        "README.md",
        r"pixel accuracy of (0\.\d+) with the same model and (\d+) epochs \(at "
        r"batch (\d+)\), on about ([\d,]+) training images",
        lambda: (
            f"{REFERENCE_VAL_ACCURACY:.4f}",
            str(Config().epochs),
            str(REFERENCE_RECIPE["batch_size"]),
            f"{REFERENCE_TRAIN_IMAGES:,}",
        ),
    ),
    Claim(
        "README.md",
        r"reaches (0\.\d+) on its (\d+) validation images, where always answering "
        r"\"(\w+)\" scores (0\.\d+)",
        readme_run,
    ),
    Claim(
        "README.md",
        r"\*\*Data\.\*\* (\d+) training images, (\d+) optimizer steps an epoch",
        steps_per_epoch,
    ),
    Claim(
        "README.md",
        r"At the default batch of (\d+), the release's ([\d,]+) training images "
        r"make ([\d,]+) optimizer steps an epoch, (\w+) times the reference's "
        r"(\d+) at batch (\d+)",
        release_steps,
    ),
    Claim(
        "README.md",
        r"mean IoU against the baseline: (0\.\d+) against (0\.\d+)",
        lambda: tuple(
            f"{load('evaluation_val.json')[key]:.4f}"
            for key in ("mean_iou", "majority_mean_iou")
        ),
    ),
    # docs/data.md
    Claim(
        "docs/data.md",
        r"a slice of (\d+) image/trimap pairs of the release",
        slice_size,
    ),
    Claim(
        "docs/data.md",
        r"Trimap values (\d) \(pet\), (\d) \(background\), (\d) \(border\) become "
        r"classes (\d), (\d), (\d)",
        trimap_classes,
    ),
    Claim(
        "docs/data.md",
        r"that is ([\d,]+) training and ([\d,]+) validation images",
        lambda: tuple(f"{official_epoch()[k]:,}" for k in ("train", "val")),
    ),
    Claim(
        "docs/data.md",
        r"as uint8, (\d+) KiB per example at the default size",
        cache_kib,
    ),
    Claim("docs/data.md", r"a random crop of (\d+)-(\d+) % of the area", crop_area),
    # docs/training.md
    Claim(
        "docs/training.md",
        r"momentum (0\.\d+), a memory of about (\d+) steps",
        batchnorm_memory,
    ),
    # docs/settings.md
    Claim(
        "docs/settings.md",
        r"multiple of (\d+)",
        lambda: problem_numbers("img_size", 17),
    ),
    Claim(
        "docs/settings.md",
        r"not strictly between (\d) and (\d)",
        lambda: problem_numbers("val_fraction", 1.0),
    ),
    Claim("docs/settings.md", r"exit with code (\d)", command_exit_code),
    # docs/performance.md
    Claim(
        "docs/performance.md",
        r"one machine: an ([\w ]+?) with (\d+) cores and `avx512_bf16`, no GPU, "
        r"TensorFlow ([\d.]+)\.",
        benchmark_machine,
    ),
    Claim(
        "docs/performance.md",
        r"split: ([\d,]+) training and ([\d,]+) validation images an epoch, plus "
        r"precise BatchNorm's pass over ([\d,]+) training images, for (\d+) "
        r"epochs; then each of the (\w+) variants for (\d+) more",
        run_time,
    ),
    Claim(
        "docs/performance.md",
        r"rates on the ([\w ]+?) in (\w+) at batch (\d+), ([\d.]+) training and "
        r"([\d.]+) predicted images/s, that comes to about ([\d.]+) hours for the "
        r"model and ([\d.]+) hours with the variants",
        lambda: (
            benchmark_machine()[0],
            bench_settings()["precision"],
            bench_settings()["batch_size"],
            bench("fit, pipeline cached (images/s)"),
            bench("predict_on_batch (images/s)"),
            *cpu_hours(),
        ),
    ),
    Claim(
        "docs/performance.md",
        r"median epoch took (\d+) s for (\d+) training images on a (\d+)-core "
        r"([\w ]+?) \(",
        committed_epochs,
    ),
    Claim(
        "docs/performance.md",
        r"\| training cost per image \| (\d+) GFLOP \|",
        lambda: (bench("training GFLOP / image (3 x forward)"),),
    ),
    Claim(
        "docs/performance.md",
        r"\| training rate, tensors in memory / from the pipeline \| ([\d.]+) / "
        r"([\d.]+) images/s \|",
        lambda: (
            bench("fit, in-memory tensors (images/s)"),
            bench("fit, pipeline cached (images/s)"),
        ),
    ),
    Claim(
        "docs/performance.md",
        r"\| training rate / rate of a reference convolution \| ([\d.]+) \|",
        lambda: (bench("fit, in-memory / reference", 2),),
    ),
    Claim(
        "docs/performance.md",
        r"\| prediction rate \| ([\d.]+) images/s \|",
        lambda: (bench("predict_on_batch (images/s)"),),
    ),
    Claim(
        "docs/performance.md",
        r"\| training rate, bfloat16 / float32 \| ([\d.]+) \|",
        lambda: (f"{1 / float(bench('fit, pipeline, float32 / bfloat16')):.2f}",),
    ),
    Claim(
        "docs/performance.md",
        r"\| training rate, batch (\d+) / batch (\d+) \| ([\d.]+) \|",
        lambda: (
            bench_settings()["batch_size"],
            str(REFERENCE_RECIPE["batch_size"]),
            f"{rate('fit, pipeline cached (images/s)') / rate(BATCH_32_RATE):.2f}",
        ),
    ),
    Claim(
        "docs/performance.md",
        r"\| training rate with XLA / without \| ([\d.]+) \|",
        lambda: (bench("jit_compile=True / default", 2),),
    ),
    Claim(
        "docs/performance.md",
        r"\| first data pass at ([\d,]+) pairs, pipeline / reference loader \| "
        r"([\d.]+) s / ([\d.]+) s \|",
        lambda: (
            bench("images loaded", 0, prefix="release: "),
            bench("first full pass (s)", 1, prefix="release: ", column=1),
            bench("first full pass (s)", 1, prefix="release: ", column=0),
        ),
    ),
    Claim(
        "docs/performance.md",
        r"\| peak memory at ([\d,]+) pairs, pipeline / reference loader \| "
        r"([\d,]+) MB / ([\d,]+) MB \|",
        lambda: (
            bench("images loaded", 0, prefix="release: "),
            bench("peak RSS (MB)", 0, prefix="release: ", column=1),
            bench("peak RSS (MB)", 0, prefix="release: ", column=0),
        ),
    ),
]


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: f"{c.page}: {c.pattern[:40]}")
def test_each_claim_states_its_source(claim):
    matches = claim.matches(read(claim.page))
    assert matches, f"{claim.page} no longer says: {claim.pattern}"
    for match in matches:
        assert match.groups() == tuple(claim.expected()), match.group()


@pytest.mark.parametrize("page", PAGES)
def test_every_number_is_generated_or_claimed(page):
    text = read(page)
    claimed = [
        match.span(group)
        for claim in CLAIMS
        if claim.page == page
        for match in claim.matches(text)
        for group in range(1, len(match.groups()) + 1)
    ]
    untied = [
        number
        for start, end, number in prose_numbers(text)
        if not any(low <= start and end <= high for low, high in claimed)
    ]
    assert not untied, f"{page} states numbers no test ties to a source: {untied}"


def test_prose_numbers_skip_code_blocks_links_and_names():
    text = (
        "Run `--epochs 5` on 3 pets, S18_FAST and float16 aside, in UTF-8.\n"
        "```bash\npython -m x 7\n```\n[a](docs/b2.md) 0.25 and 1,024 and 80/20\n"
        "<!-- x:begin -->\n42\n<!-- x:end -->\n1. a list\n"
    )
    found = [number for _, _, number in prose_numbers(text)]
    assert found == ["3", "0.25", "1,024", "80", "20"]


def test_the_slice_is_mostly_three_breeds():
    breeds = Counter(stem.rsplit("_", 1)[0].lower() for stem in read_stems())
    top = [name for name, _ in breeds.most_common(3)]
    assert sorted(top) == ["abyssinian", "american_bulldog", "bengal"]
    assert sum(breeds[name] for name in top) > len(read_stems()) / 2
    assert "Most of its pairs are Abyssinian, Bengal or American bulldog" in read(
        "docs/data.md"
    )


def test_the_committed_run_commands_match_the_record():
    text = read("docs/training.md")
    config = load("config.json")
    epochs = pd.read_csv(RESULTS / "variants" / "variants.csv")["epochs"].unique()
    assert len(epochs) == 1 and epochs[0] == config["variant_epochs"]
    assert f"S18_VARIANT_EPOCHS={int(epochs[0])} " in text
    assert f"S18_SPLIT={config['split']} " in text
    assert "nothing was loaded from an earlier run" in text


def test_the_committed_run_names_the_settings_that_changed_since():
    """The record's settings against today's defaults, as the page says."""
    record = load_config(RESULTS / "config.json")
    changed = differing_settings(record, Config(split=record.split))
    text = " ".join(read("docs/training.md").split())
    match = re.search(r"The record differs from today's defaults in (.*?) \(", text)
    named = re.findall(r"`(\w+)`", match.group(1)) if match else []
    assert named == changed


def test_ablation_block_is_generated_from_the_committed_tables():
    text = read("docs/ablation.md")
    block = text.split(ABLATION_BEGIN, 1)[1].split(ABLATION_END, 1)[0].strip()
    # docs/ links the figure from its own folder.
    assert block == render_ablation(RESULTS, Path("../images"))
    assert "(../images/learning_curve.png)" in block
    assert ABLATION_BEGIN not in read("README.md")


def test_readme_says_the_default_recipe_beat_the_reference_on_every_seed():
    runs = pd.read_csv(RESULTS / "ablation_runs.csv")
    chosen = choose_line(runs)
    seeds = runs.loc[runs["line"] == chosen, "seed"].nunique()
    words = {2: "both seeds"}.get(seeds, f"all {NUMBER_WORDS[seeds]} seeds")
    assert chosen != "reference"
    assert f"The default recipe beat the reference's on {words} of the" in read(
        "README.md"
    )


def test_ablation_lines_are_the_ones_the_command_trains():
    table = pd.read_csv(RESULTS / "ablation.csv")
    assert table["line"].tolist() == [name for name, _, _ in CHANGES]


# --- settings ------------------------------------------------------------------


def settings_table() -> dict[str, list[str]]:
    """field -> [default, flag, variable, meaning] from docs/settings.md's table."""
    rows = {}
    for line in read("docs/settings.md").splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[cells[0].strip("`")] = [c.strip("`") for c in cells[1:4]] + cells[4:]
    return rows


def test_settings_table_lists_every_field_and_its_default():
    fields = dataclasses.fields(Config)
    rows = settings_table()
    assert list(rows) == [field.name for field in fields]
    for field in fields:
        assert rows[field.name][0] == str(field.default), field.name


def test_settings_table_gives_each_flag():
    from utils.train import make_parser

    flags = {
        action.dest: action.option_strings[0]
        for action in make_parser()._actions
        if action.dest != "help"
    }
    listed = {name: row[1] for name, row in settings_table().items() if row[1]}
    assert listed == flags


def test_settings_table_gives_each_environment_variable():
    listed = {name: row[2] for name, row in settings_table().items() if row[2]}
    expected = {field: variable for variable, field in ENV_FIELDS.items()}
    assert listed == expected | {"fast": ENV_FAST}


# A value for each field an environment variable sets, unlike its default.
ENV_SAMPLES = {
    "fast": "1",
    "data_dir": "/pets",
    "split": "random",
    "max_images": "50",
    "run_dir": "runs/other",
    "variant_epochs": "3",
    "early_stopping": "1",
    "precision": "bfloat16",
}


@pytest.mark.parametrize("field, value", ENV_SAMPLES.items())
def test_each_listed_variable_sets_its_field(field, value):
    config = config_from_env({settings_table()[field][2]: value})
    assert getattr(config, field) != getattr(Config(), field)


def test_settings_page_names_the_switch_values_and_each_option():
    text = read("docs/settings.md")
    switches = re.search(r"takes (.*?)\.\n", text, re.S).group(1)
    assert re.findall(r"`(\w+)`", switches) == list(SWITCH_ON + SWITCH_OFF)
    rows = settings_table()
    for field, choices in config_module.OPTION_CHOICES.items():
        named = re.findall(r"`([\w+]+)`", rows[field][3])
        assert set(choices) <= set(named), field


# --- links, figures, names -----------------------------------------------------

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCED.sub("", path.read_text())
    return {
        slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")
    }


def test_slug_follows_github():
    assert slug("The slice: `oxford_pets_mini`") == "the-slice-oxford_pets_mini"
    assert slug("Precise BatchNorm") == "precise-batchnorm"


@pytest.mark.parametrize("page", PAGES)
def test_every_link_reaches_a_file_and_heading(page):
    here = (ROOT / page).parent
    for target in LINK.findall(FENCED.sub("", read(page))):
        if target.startswith("http"):
            continue
        path, _, anchor = target.partition("#")
        file = (here / path).resolve() if path else ROOT / page
        assert file.exists(), f"{page} links a missing {target}"
        if anchor:
            assert anchor in anchors(file), f"{page} links a missing heading {target}"


@pytest.mark.parametrize("page", [p for p in PAGES if p.startswith("docs/")])
def test_docs_figures_exist_alone_on_their_line_with_alt_text(page):
    text = read(page)
    alts = []
    for line in text.splitlines():
        for alt, path in IMAGE.findall(line):
            assert (ROOT / page).parent.joinpath(path).is_file(), f"{page}: {path}"
            assert line.strip() == f"![{alt}]({path})", f"not alone: {line}"
            assert len(alt.split()) >= 3, f"alt text of {path} says too little"
            alts.append(alt)
    assert len(set(alts)) == len(alts), f"{page}: two figures share an alt text"


def test_readme_links_every_docs_page():
    readme = read("README.md")
    for page in DOCS.glob("*.md"):
        assert f"(docs/{page.name})" in readme, page.name


OLD_MODULES = (
    "quiet cli files tables checkpoints batchnorm recipe predict metrics splits "
    "synthetic download colab lesson upload figures plots_compare architecture "
    "report ablation ablation_report repo"
).split()
OLD_NAME = re.compile(
    r"utils[./](?:" + "|".join(OLD_MODULES) + r")\b"
    r"|`(?:" + "|".join(OLD_MODULES) + r")\.(?!(?:csv|md|png|json|py)\b)\w+"
    r"|python -m utils\.(?:data|variants|pipeline)\b"
    r"|mixed_precision"
)


@pytest.mark.parametrize("page", PAGES)
def test_no_page_names_a_module_or_command_that_is_gone(page):
    assert OLD_NAME.findall(read(page)) == []


def test_old_names_are_caught():
    text = "`utils/batchnorm.py`, `colab.cpu_cost_notice`, python -m utils.data check"
    assert len(OLD_NAME.findall(text)) == 3
    assert OLD_NAME.findall("`ablation.csv`, `tools/report.py`, `tools.repo`") == []


@pytest.mark.parametrize("page", PAGES)
def test_every_command_names_a_runnable_module(page):
    for module in re.findall(r"python -m ([\w.]+)", read(page)):
        if module.split(".")[0] not in ("utils", "tools", "benchmarks"):
            continue
        path = ROOT / Path(*module.split(".")).with_suffix(".py")
        assert path.is_file(), f"{page}: no module {module}"
        assert 'if __name__ == "__main__":' in path.read_text(), f"{page}: {module}"


@pytest.mark.parametrize("page", PAGES)
def test_pages_speak_only_of_the_project(page):
    words = re.findall(
        r"\b(?:issues?|helpers?|AI|LLM|agents?|pull requests?|sessions)\b", read(page)
    )
    assert words == []
