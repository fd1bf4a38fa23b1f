"""benchmarks/truthful_bn.py: the check that logged validation describes the model."""

import keras
import numpy as np
import pytest

from benchmarks import truthful_bn
from utils.model import build_unet


def test_running_mean_batchnorm_is_the_mean_of_batch_statistics():
    keras.utils.set_random_seed(0)
    model = build_unet(img_size=16, dropout=0.0)
    norm = next(
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
    rng = np.random.default_rng(0)
    batches = [rng.random((2, 16, 16, 3), dtype=np.float32) for _ in range(3)]
    # Each batch's own statistics, read with momentum 0 (one batch at a time).
    means = []
    for image in batches:
        norm.momentum = 0.0
        model(image, training=True)
        means.append(np.asarray(norm.moving_mean))
    norm.momentum = 0.99
    truthful_bn.running_mean_batchnorm(model, [(image, None) for image in batches])
    np.testing.assert_allclose(norm.moving_mean, np.mean(means, axis=0), rtol=1e-5)
    assert norm.momentum == 0.99


@pytest.mark.slow
def test_check_command_reproduces_the_logged_scores(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["--fast", "--max-images", "24", "--epochs", "2", "--out", str(out)]
    argv += ["--cache-dir", str(tmp_path / "cache")]
    argv += ["--check-epochs", "1", "2"]
    truthful_bn.main(argv)
    lines = capsys.readouterr().out.strip().splitlines()[-4:]
    assert lines[0].startswith("| epoch | logged val_mean_iou |")
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in lines[2:]]
    assert [row[0] for row in rows] == ["1", "2"]
    for row in rows:
        logged, independent, difference, redone = map(float, row[1:5])
        # Redoing the logged procedure on the kept weights gives the logged score.
        assert redone == pytest.approx(logged, abs=1e-4)
        # The independent re-estimation (shuffled batches, dropout on, running
        # mean) is a score of its own, beside the logged one.
        assert 0 < independent <= 1 and independent != redone
        assert difference == pytest.approx(independent - logged, abs=2e-4)
        assert abs(difference) < 0.05
    assert sorted(p.name for p in (tmp_path / "run_epoch_weights").iterdir()) == [
        "epoch1.weights.h5",
        "epoch2.weights.h5",
    ]
