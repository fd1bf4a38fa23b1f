"""Test-wide environment: quiet TensorFlow, headless plots, fast notebook mode.

Tests marked `real_data` read the real slice of the release beside this
checkout (../shared/data/oxford_pets_mini): where it is absent they skip, or
fail when S18_REQUIRE_REAL_DATA=1 (CI has the slice), and the summary counts them.
"""

import os
from pathlib import Path

import pytest

# Set before TensorFlow or matplotlib load, and inherited by the nbval kernel.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["MPLBACKEND"] = "Agg"
os.environ["S18_FAST"] = "1"

REAL_MINI = Path(__file__).resolve().parent.parent / "shared/data/oxford_pets_mini"
REAL_DATA_OUTCOMES: dict[str, int] = {}


def pytest_runtest_setup(item):
    """Skip, or fail where it is required, a real-data test without the slice."""
    if item.get_closest_marker("real_data") and not (REAL_MINI / "images").is_dir():
        message = f"{REAL_MINI} is not on this machine"
        if os.environ.get("S18_REQUIRE_REAL_DATA") == "1":
            pytest.fail(message + ", and S18_REQUIRE_REAL_DATA=1 requires it")
        pytest.skip(message)


def pytest_runtest_logreport(report):
    """Count the outcomes of real-data tests (their call, or a skip in setup)."""
    if "real_data" in report.keywords and (report.when == "call" or report.skipped):
        REAL_DATA_OUTCOMES[report.outcome] = (
            REAL_DATA_OUTCOMES.get(report.outcome, 0) + 1
        )


def pytest_terminal_summary(terminalreporter):
    """One line: how many real-data tests ran, skipped or failed."""
    counts = ", ".join(
        f"{n} {outcome}" for outcome, n in sorted(REAL_DATA_OUTCOMES.items())
    )
    terminalreporter.write_line(f"real-data tests: {counts or 'none selected'}")
