"""Test-wide environment: quiet TensorFlow, headless plots, fast notebook mode."""

import os

# Set before TensorFlow or matplotlib load, and inherited by the nbval kernel.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["MPLBACKEND"] = "Agg"
os.environ["S18_FAST"] = "1"
