"""TensorFlow's native start-up log is muted, and nothing else is."""

import os

from utils.quiet import silenced_fd, start_tensorflow_quietly


def test_silenced_fd_drops_native_writes_then_restores(capfd):
    with silenced_fd(2):
        os.write(2, b"I0000 cudart_stub.cc] Could not find cuda drivers\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_silenced_fd_restores_after_an_error(capfd):
    try:
        with silenced_fd(2):
            raise RuntimeError("import failed")
    except RuntimeError:
        pass
    os.write(2, b"visible\n")
    assert capfd.readouterr().err == "visible\n"


def test_start_tensorflow_quietly_keeps_a_chosen_level(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
    assert isinstance(start_tensorflow_quietly(), list)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"
