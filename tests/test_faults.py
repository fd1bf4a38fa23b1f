"""Fault and hostile-input campaign: one test per item, each failing without its fix.

F1-F4 and the partial items of the campaign; F5 and F6 start processes and
live in test_faults_slow.py. Every file is written under tmp_path.
"""

from __future__ import annotations

import dataclasses
import errno
import io
import json
import os
import resource
import stat
import struct
import tarfile
import threading
import zipfile
import zlib
from pathlib import Path

import ipywidgets as widgets
import keras
import numpy as np
import pytest
from PIL import Image

from tests.callbacks import StopAfterEpoch, tiny_config
from tests.callbacks import train_run as fit
from utils import data as pets
from utils import train, viewer
from utils.callbacks import AtomicModelCheckpoint, prepare_run_folder
from utils.config import Config, ProjectError, config_from_env, fast_config
from utils.data import read_pair, report_split_drops
from utils.evaluate import load_model
from utils.pipeline import make_datasets, scan_pets
from utils.runs import (
    RunFolder,
    check_run_files,
    load_config,
    partial_path,
    read_history,
    release_run_folder,
    save_config,
    write_atomically,
)
from utils.sources import extract_tar_safely, make_synthetic_pets


def tiny_model() -> keras.Model:
    """A compiled two-layer model: cheap to save as a real .keras file."""
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(loss="mse")
    return model


def file_state(path: Path) -> tuple:
    """What a rewrite would change: bytes, inode, modification time."""
    info = path.stat()
    return path.read_bytes(), info.st_ino, info.st_mtime_ns


@pytest.fixture(autouse=True)
def no_run_locks():
    """Release the folder locks an interrupted or refused run keeps."""
    yield
    from utils.runs import LOCKS

    for path in list(LOCKS):
        release_run_folder(path)


# F1 ----------------------------------------------------------------------------


def test_f1_leftover_partial_checkpoint_never_replaces_best(tmp_path):
    best = tmp_path / "best.keras"
    tiny_model().save(best)
    good = best.read_bytes()
    leftover = partial_path(best)
    leftover.write_bytes(b"half a model from a killed save")
    checkpoint = AtomicModelCheckpoint(
        best,
        monitor="loss",
        mode="min",
        save_best_only=True,
        initial_value_threshold=-1.0,  # no loss beats it: this epoch saves nothing
    )
    checkpoint.set_model(tiny_model())
    checkpoint.on_epoch_end(0, {"loss": 0.5})
    assert best.read_bytes() == good
    assert not leftover.exists()


# F2 ----------------------------------------------------------------------------


def test_f2_config_with_unknown_key_is_refused_by_name(tmp_path):
    path = tmp_path / "config.json"
    save_config(fast_config(run_dir=str(tmp_path / "run")), path)
    fields = json.loads(path.read_text())
    path.write_text(json.dumps({**fields, "learning_rat": 0.1}))
    with pytest.raises(ProjectError, match="learning_rat") as error:
        load_config(path)
    assert str(path) in str(error.value)


# F3 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        np.random.default_rng(0).bytes(4096),
        np.random.default_rng(1).bytes(64),
        b"epoque,loss,val_mean_iou\n0,1.0,0.2\n1,0.8,0.3\n",  # header renamed
        b"\n\n\n",  # lines, no columns
        b"\0" * 512,  # a file the kernel never filled
        b'"epoch,loss\n0,1.0\n',  # an open quote
    ],
    ids=["random-4k", "random-64", "renamed-header", "blank", "nul", "quote"],
)
def test_f3_damaged_history_is_refused_by_name(tmp_path, content):
    path = RunFolder(tmp_path).history
    path.write_bytes(content)
    with pytest.raises(ProjectError, match="damaged or incomplete") as error:
        read_history(tmp_path)
    assert str(path) in str(error.value)


# F4 ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["finished", "interrupted"])
def test_f4_refused_run_rewrites_no_record(tmp_path, stage):
    config = tiny_config(tmp_path, epochs=2 if stage == "interrupted" else 1)
    data = make_datasets(config)
    if stage == "finished":
        fit(config, data)
    else:
        with pytest.raises(KeyboardInterrupt):
            fit(config, data, [StopAfterEpoch(0)])
    release_run_folder(config.run_dir)
    run = RunFolder(config.run_dir)
    records = (run.machine, run.data_record, run.config, run.history)
    before = [file_state(path) for path in records]
    other = dataclasses.replace(config, loss="ce")
    with pytest.raises(ProjectError, match=r"other settings \(loss\)"):
        fit(other, data)
    with pytest.raises(ProjectError, match=r"other settings \(loss\)"):
        train.make_callbacks(other, data)
    assert [file_state(path) for path in records] == before


# Partial: tar members that a folder and a file both claim ----------------------


def tar_bytes(members: list[tuple[str, bytes | None]], mode: str = "w") -> bytes:
    """A tar archive of (name, content) members; content None makes a folder."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "members",
    [
        [("first.txt", b"1"), ("data", None), ("data", b"a file where a folder is")],
        [("first.txt", b"1"), ("data", b"a file"), ("data/inner.txt", b"under it")],
        [("first.txt", b"1"), ("data/inner.txt", b"in a folder"), ("data", b"file")],
    ],
    ids=["folder-then-file", "file-then-member-under-it", "member-then-file"],
)
def test_tar_member_both_folder_and_file_is_refused_before_writing(tmp_path, members):
    archive = tmp_path / "images.tar.gz"
    archive.write_bytes(tar_bytes(members))
    target = tmp_path / "out"
    with pytest.raises(ProjectError, match="member 'data"):
        extract_tar_safely(archive, target)
    assert not target.exists() or not any(target.iterdir())


# Partial: a flipped byte in a .tar.gz ------------------------------------------


@pytest.mark.parametrize("where", [0.3, 0.5, 0.7])
def test_flipped_byte_in_tar_gz_is_refused(tmp_path, where):
    rng = np.random.default_rng(0)
    members = [
        ("annotations/list.txt", b"Cat_1 1 1 1\n" * 2000),  # compressible
        ("images/Cat_1.jpg", rng.bytes(30_000)),  # stored as is
        ("images/Cat_2.jpg", rng.bytes(30_000)),
    ]
    blob = bytearray(tar_bytes(members, mode="w:gz"))
    blob[int(len(blob) * where)] ^= 0x55
    archive = tmp_path / "images.tar.gz"
    archive.write_bytes(bytes(blob))
    target = tmp_path / "out"
    with pytest.raises(ProjectError, match="corrupt or truncated|damaged"):
        extract_tar_safely(archive, target)
    written = [path for path in target.rglob("*") if path.is_file()]
    assert written == []


# Partial: 16-bit and palette trimaps -------------------------------------------


def write_pair(root: Path, trimap: Image.Image) -> tuple[str, str]:
    """A 12x10 JPEG and `trimap` as a pair under `root`; their paths."""
    image = root / "Cat_1.jpg"
    Image.fromarray(np.full((10, 12, 3), 128, np.uint8)).save(image)
    trimap_path = root / "Cat_1.png"
    trimap.save(trimap_path)
    return str(image), str(trimap_path)


def trimap_array() -> np.ndarray:
    """A (10, 12) trimap with every value 1, 2 and 3."""
    values = np.full((10, 12), 2, np.uint8)
    values[2:8, 2:10] = 3
    values[3:7, 3:9] = 1
    return values


def palette_trimap(values: np.ndarray) -> Image.Image:
    """A palette PNG whose indices are `values` and whose colours are not."""
    image = Image.fromarray(values, mode="L").convert("P")
    image.putdata(values.ravel().tolist())
    image.putpalette([0, 0, 0, 200, 40, 40, 40, 200, 40, 40, 40, 200] + [0] * 756)
    return image


@pytest.mark.parametrize("kind", ["16-bit", "palette", "16-bit-300"])
def test_16bit_and_palette_trimaps_read_as_stored(tmp_path, kind):
    values = trimap_array()
    if kind == "palette":
        trimap = palette_trimap(values)
    else:
        wide = values.astype(np.uint16)
        if kind == "16-bit-300":
            wide[0, 0] = 300
        trimap = Image.fromarray(wide)  # saved as a 16-bit greyscale PNG
    image_path, trimap_path = write_pair(tmp_path, trimap)
    with Image.open(trimap_path) as saved:
        assert saved.mode in (("P",) if kind == "palette" else ("I;16", "I"))
    _, read, code = read_pair(image_path, trimap_path)
    if kind == "16-bit-300":
        assert pets.PROBLEMS[int(code)] == pets.BAD_VALUES
    else:
        assert int(code) == 0
        np.testing.assert_array_equal(read.numpy()[..., 0], values)


# Partial: a listed name that is not UTF-8 --------------------------------------


def test_non_utf8_name_is_reported_only_as_bad_name(tmp_path):
    root = make_synthetic_pets(tmp_path / "pets", 6, seed=0)
    stem = b"caf\xe9_7"
    try:
        for folder, suffix in (("images", b".jpg"), ("annotations/trimaps", b".png")):
            source = next((root / folder).iterdir())
            target = os.path.join(os.fsencode(root / folder), stem + suffix)
            with open(target, "wb") as file:
                file.write(source.read_bytes())
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    with open(root / "annotations" / "trainval.txt", "ab") as listing:
        listing.write(stem + b" 1 1 1\n")
    pairs, skipped = pets.find_pairs(root)
    splits = pets.split_pairs(pairs, root, skipped=skipped)
    assert sorted(skipped[pets.BAD_NAME]) == [
        "images/caf\\xe9_7.jpg",
        "trimaps/caf\\xe9_7.png",
    ]
    assert not skipped.get(pets.LISTED_ABSENT)
    assert sum(map(len, splits.values())) == 6
    # The same through the split-drop report alone.
    again = {pets.BAD_NAME: list(skipped[pets.BAD_NAME])}
    report_split_drops({"caf\\xe9_7"}, {}, again)
    assert pets.LISTED_ABSENT not in again


# Partial: a header that claims 20000 x 20000 pixels ----------------------------


def huge_png_bytes(width: int = 20_000, height: int = 20_000) -> bytes:
    """A few-byte PNG whose IHDR claims `width` x `height` (valid CRC)."""
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(buffer, "PNG")
    blob = bytearray(buffer.getvalue())
    assert blob[12:16] == b"IHDR"
    blob[16:24] = struct.pack(">II", width, height)
    blob[29:33] = struct.pack(">I", zlib.crc32(bytes(blob[12:29])))
    return bytes(blob)


@pytest.mark.parametrize("side", [20_000, 8_000])  # over PIL's limit; over ours
def test_huge_header_image_is_skipped_and_refused_before_decoding(
    tmp_path, small_model, monkeypatch, side
):
    root = make_synthetic_pets(tmp_path / "pets", 4, seed=0)
    huge = huge_png_bytes(side, side)
    assert len(huge) < 200
    (root / "images" / "Huge_9.jpg").write_bytes(huge)
    trimap = Image.fromarray(np.full((8, 8), 2, np.uint8))
    trimap.save(root / "annotations" / "trimaps" / "Huge_9.png")
    report = scan_pets(root)
    assert report.skipped[pets.TOO_LARGE] == ["Huge_9"]
    others = [names for reason, names in report.skipped.items() if "Huge_9" in names]
    assert others == [["Huge_9"]]
    assert len(report.pairs) == 4

    # The upload path refuses it from the header, never decoding it.
    def never_decode(data, img_size):
        raise AssertionError("decoded an image its header refuses")

    monkeypatch.setattr(viewer, "load_image_bytes", never_decode)
    with pytest.raises(ProjectError, match=viewer.TOO_LARGE):
        viewer.segment_image_bytes(small_model, huge, 32)


# Partial: uploads of a pipe, a device, a huge file -----------------------------


def handle_path_within(model, path: Path, seconds: float = 20.0):
    """`viewer.handle_path` run in a thread; fails the test if it blocks."""
    result = {}
    worker = threading.Thread(
        target=lambda: result.update(
            message=viewer.handle_path(model, 32, str(path), widgets.Output())
        ),
        daemon=True,
    )
    worker.start()
    worker.join(seconds)
    if worker.is_alive() and stat.S_ISFIFO(os.stat(path).st_mode):
        # A reader waits for a writer: give it one, and end of file, to free it.
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(5)
    assert "message" in result, f"reading {path} blocked"
    return result["message"]


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "over-50-MB"])
def test_upload_of_pipe_or_device_returns_a_message(tmp_path, small_model, kind):
    if kind == "fifo":
        path = tmp_path / "pet.jpg"
        os.mkfifo(path)
        expected = "not a regular file"
    elif kind == "dev-zero":
        path = Path("/dev/zero")
        expected = "not a regular file"
    else:
        path = tmp_path / "big.jpg"
        with open(path, "wb") as file:
            file.truncate(viewer.MAX_UPLOAD_BYTES + 1)  # sparse: no disk used
        expected = "larger than 50 MB"
    # Reading /dev/zero whole would fill memory: cap it meanwhile.
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/status") as status:
        size = next(line for line in status if line.startswith("VmSize:"))
    cap = int(size.split()[1]) * 1024 + 2**31
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        message = handle_path_within(small_model, path)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    assert isinstance(message, str)
    assert message.startswith(f"Cannot read {path}: {expected}")
    with pytest.raises(ProjectError, match=expected):
        viewer.read_upload(path)


# Partial: no valid pair in the official test list ------------------------------


def test_official_test_list_all_invalid_is_refused(tmp_path):
    root = make_synthetic_pets(tmp_path / "pets", 16, seed=0)
    lines = (root / "annotations" / "test.txt").read_text().splitlines()
    assert lines
    for line in lines:
        stem = line.split()[0]
        trimap = root / "annotations" / "trimaps" / f"{stem}.png"
        Image.fromarray(np.full((20, 20), 7, np.uint8)).save(trimap)
    config = Config(
        data_dir=str(root),
        cache_dir=str(tmp_path / "cache"),
        run_dir=str(tmp_path / "run"),
        img_size=32,
        batch_size=8,
        precision="float32",
    )
    assert config.max_images is None
    with pytest.raises(ProjectError, match="No pair listed in .*test.txt is valid"):
        make_datasets(config)


# Partial: flags ----------------------------------------------------------------


@pytest.fixture
def no_s18_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("S18_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--loss", "focal"], "argument --loss: invalid choice: 'focal'"),
        (["--epochs", "ten"], "argument --epochs: invalid int value: 'ten'"),
        (["--learning-rate", "fast"], "argument --learning-rate: invalid float"),
        (
            ["--learning-rate", "-1e-3"],
            "Config.learning_rate must be a number > 0",
        ),
        (["--epochs", "-5"], "Config.epochs must be a whole number >= 1"),
    ],
    ids=["unknown-choice", "not-int", "not-float", "negative-rate", "negative-count"],
)
def test_bad_flag_is_one_line_naming_it(no_s18_env, capsys, argv, expected):
    with pytest.raises(ProjectError) as error:
        train.parse_args(argv)
    assert expected in str(error.value)
    assert "expected one argument" not in str(error.value)
    with pytest.raises(SystemExit) as exit_:
        train.main(argv)
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert expected in lines[0]


# Partial: environment ----------------------------------------------------------


@pytest.mark.parametrize("value", ["²", "٣", "0", "-4", "1e3"])
def test_s18_max_images_not_a_count_is_refused_by_name(value):
    with pytest.raises(ProjectError, match="S18_MAX_IMAGES"):
        config_from_env({"S18_MAX_IMAGES": value})


# Partial: Config values --------------------------------------------------------


def test_config_refuses_empty_run_dir_and_stores_plain_ints(tmp_path):
    with pytest.raises(ProjectError, match="Config.run_dir"):
        Config(run_dir="")
    config = Config(epochs=np.int64(5), run_dir=str(tmp_path / "run"))
    assert type(config.epochs) is int and config.epochs == 5
    config.batch_size = np.int32(8)
    assert type(config.batch_size) is int
    record = json.loads(json.dumps(dataclasses.asdict(config)))
    assert record["epochs"] == 5 and record["batch_size"] == 8
    with pytest.raises(ProjectError, match="Config.run_dir"):
        config.run_dir = ""


def test_config_json_with_text_count_is_refused_by_name(tmp_path):
    path = tmp_path / "config.json"
    save_config(fast_config(run_dir=str(tmp_path / "run")), path)
    fields = json.loads(path.read_text())
    path.write_text(json.dumps({**fields, "epochs": "40"}))
    with pytest.raises(ProjectError, match="Config.epochs") as error:
        load_config(path)
    assert str(path) in str(error.value)


# Partial: damaged model and backup metadata ------------------------------------


def test_keras_file_with_cut_weights_and_empty_metadata_are_named(tmp_path):
    good = tmp_path / "good.keras"
    tiny_model().save(good)
    with zipfile.ZipFile(good) as archive:
        members = [(info.filename, archive.read(info)) for info in archive.infolist()]
    assert "model.weights.h5" in dict(members)
    cut = tmp_path / "final.keras"
    with zipfile.ZipFile(cut, "w") as archive:  # fresh, valid checksums
        for name, content in members:
            if name == "model.weights.h5":
                content = content[: len(content) // 2]
            archive.writestr(name, content)
    assert zipfile.ZipFile(cut).testzip() is None
    with pytest.raises(ProjectError, match="damaged or incomplete") as error:
        load_model(cut)
    assert str(cut) in str(error.value)

    config = fast_config(run_dir=str(tmp_path / "run"))
    backup = RunFolder(config.run_dir).backup
    backup.mkdir(parents=True)
    metadata = backup / "training_metadata.json"
    for text in ("{}", "[]"):
        metadata.write_text(text)
        with pytest.raises(ProjectError, match="damaged or incomplete") as error:
            check_run_files(Path(config.run_dir), config)
        assert str(metadata) in str(error.value)


# Partial: resuming without the original checkpoint_dir -------------------------


@pytest.mark.slow
def test_resume_without_original_checkpoint_dir_is_refused(tmp_path):
    drive = tmp_path / "drive"
    config = tiny_config(tmp_path, epochs=2, checkpoint_dir=str(drive))
    data = make_datasets(config)
    with pytest.raises(KeyboardInterrupt):
        fit(config, data, [StopAfterEpoch(0)])
    release_run_folder(config.run_dir)
    run = RunFolder(config.run_dir)
    assert (drive / "backup").is_dir() and not run.backup.exists()
    kept = [file_state(path) for path in (run.history, run.best)]
    resumed = dataclasses.replace(config, checkpoint_dir=None)
    with pytest.raises(ProjectError, match="set checkpoint_dir") as error:
        prepare_run_folder(resumed, data)
    assert str(drive) in str(error.value)
    with pytest.raises(ProjectError, match="set checkpoint_dir"):
        fit(resumed, data)
    assert [file_state(path) for path in (run.history, run.best)] == kept


# Partial: read-only folder, full disk ------------------------------------------


def permissions_ignored(folder: Path) -> bool:
    """True when this process may write into a read-only folder (root may)."""
    folder.mkdir()
    folder.chmod(0o555)
    try:
        (folder / "probe").touch()
    except PermissionError:
        return False
    finally:
        folder.chmod(0o755)
    return True


@pytest.mark.parametrize("where", ["run-folder", "parent-folder"])
def test_read_only_run_folder_is_one_line(tmp_path, capsys, no_s18_env, where):
    locked = tmp_path / "locked"
    # os.geteuid() == 0 with the capability to override permissions.
    if permissions_ignored(locked):
        pytest.skip("this user (root) ignores file permissions")
    out = locked if where == "run-folder" else locked / "run"
    locked.chmod(0o555)
    try:
        with pytest.raises(SystemExit) as exit_:
            train.main(
                ["--fast", "--epochs", "1", "--max-images", "24"]
                + ["--cache-dir", str(tmp_path / "cache"), "--out", str(out)]
            )
    finally:
        locked.chmod(0o755)
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert str(out) in lines[0]
    assert not any(path.name.startswith(".partial-") for path in locked.rglob("*"))


def test_full_disk_while_writing_names_the_file(tmp_path):
    path = tmp_path / "history.json"
    path.write_text("old")

    def write(tmp):
        tmp.write_bytes(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(ProjectError, match="free disk space") as error:
        write_atomically(path, write)
    assert str(path) in str(error.value)
    assert "No space left on device" in str(error.value)
    assert not partial_path(path).exists() and path.read_text() == "old"


def test_full_disk_while_saving_best_model_names_it(tmp_path, monkeypatch):
    best = tmp_path / "best.keras"
    best.write_bytes(b"the earlier best")

    def save(self, filepath, *args, **kwargs):
        Path(filepath).write_bytes(b"half a model")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(keras.Model, "save", save)
    checkpoint = AtomicModelCheckpoint(
        best, monitor="loss", mode="min", save_best_only=True
    )
    checkpoint.set_model(tiny_model())
    with pytest.raises(ProjectError, match="free disk space") as error:
        checkpoint.on_epoch_end(0, {"loss": 0.5})
    assert str(best) in str(error.value)
    assert not partial_path(best).exists()
    assert best.read_bytes() == b"the earlier best"
