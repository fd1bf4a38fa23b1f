"""Fixtures shared by the figure and viewer tests."""

import matplotlib.pyplot as plt
import pytest

from utils.model import build_unet


@pytest.fixture(scope="session")
def small_model():
    """An untrained U-Net on 32x32 images: cheap to build, real layers."""
    return build_unet(img_size=32)


@pytest.fixture(autouse=True)
def no_open_figures():
    """Every test must leave pyplot with no open figure."""
    yield
    assert plt.get_fignums() == []
