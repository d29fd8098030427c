"""Notebook 04's training dashboard, driven from Python: set the controls, press the buttons, read the results."""

import time
from types import SimpleNamespace

import pytest
import torch
from test_train import one_thread  # noqa: F401  (autouse: tiny nets on one thread)

from resblock.data import load_fashion_mnist
from resblock.models import TINY_RESNET, ResNet, count_parameters
from resblock.train import TrainConfig
from resblock.widgets.dashboard import TrainingDashboard


@pytest.fixture(scope="module")
def small_data():
    d = load_fashion_mnist()
    return SimpleNamespace(
        train_images=d.train_images[:512],
        train_labels=d.train_labels[:512],
        test_images=d.test_images[:200],
        test_labels=d.test_labels[:200],
    )


def png(data: bytes) -> bool:
    return data[:8] == b"\x89PNG\r\n\x1a\n"


def test_default_state_shows_empty_curves_and_describes_the_tiny_resnet(small_data):
    dash = TrainingDashboard(small_data)
    assert png(dash.curves.value)  # a figure even before the first run
    assert dash.model_config == TINY_RESNET  # ResNet-8, 16/32/64 channels, max-pooled stem
    assert dash.model_config.depth == 8 and dash.model_config.widths == (16, 32, 64) and dash.model_config.stem_pool
    assert dash.train_config.seconds == 30 and dash.train_config.lr == 0.4
    assert dash.stop_button.disabled and not dash.start_button.disabled
    classes = {c for w in (dash.start_button, dash.stop_button, dash.progress, dash.curves) for c in w._dom_classes}
    assert {
        "resblock-train-start",
        "resblock-train-stop",
        "resblock-train-progress",
        "resblock-train-curves",
    } <= classes


def test_start_button_trains_the_chosen_net(small_data):
    dash = TrainingDashboard(small_data, config=TrainConfig(batch_size=64), background=False, redraw_interval=0.0)
    dash.depth.value, dash.width.value, dash.shortcut.value, dash.stem_pool.value = 14, 8, False, False
    dash.lr.value, dash.seconds.value = 0.1, 2
    first_png = dash.curves.value
    dash.start_button.click()  # synchronous in this mode
    r = dash.result
    assert r is not None and r.stopped == "budget"
    assert r.config.lr == 0.1 and r.config.seconds == 2.0
    assert r.model.config.depth == 14 and not r.model.config.shortcut and r.model.config.widths == (8, 16, 32)
    assert not r.model.config.stem_pool and isinstance(r.model.pool, torch.nn.Identity)
    assert count_parameters(r.model) == count_parameters(ResNet(dash.model_config))
    assert 2.0 <= r.history.time[-1] < 3.0 and dash.progress.value == 1.0
    assert "test accuracy" in dash.status.value and f"{r.test_acc:.3f}" in dash.status.value
    assert png(dash.curves.value) and dash.curves.value != first_png
    assert not dash.start_button.disabled and dash.stop_button.disabled  # controls back on after the run


def test_stop_button_ends_a_background_run(small_data):
    dash = TrainingDashboard(small_data, config=TrainConfig(batch_size=64), width=8)
    dash.seconds.value = 300
    dash.start_button.click()  # returns at once: training runs in a thread
    deadline = time.time() + 30
    while dash.progress.value == 0 and time.time() < deadline:  # wait for the first steps
        time.sleep(0.05)
    assert dash.running and not dash.stop_button.disabled and dash.start_button.disabled
    dash.stop_button.click()
    dash.wait(timeout=30)
    assert not dash.running
    assert dash.result.stopped == "stopped" and dash.result.history.steps > 0
    assert dash.result.history.time[-1] < 300
    assert "stopped" in dash.status.value


def test_divergence_is_reported_in_the_status_not_raised(small_data):
    dash = TrainingDashboard(small_data, config=TrainConfig(batch_size=64, warmup=0.0), width=8, background=False)
    dash.lr.value, dash.seconds.value = 100.0, 5
    dash.start_button.click()
    assert dash.result is None and "learning rate too high" in dash.status.value
    assert not dash.start_button.disabled


def test_bad_settings_are_explained(small_data):
    with pytest.raises(ValueError, match="depth"):
        TrainingDashboard(small_data, depth=9)
    with pytest.raises(ValueError, match="lr"):
        TrainingDashboard(small_data, config=TrainConfig(lr=0.33))
    with pytest.raises(ValueError, match=r"time budget .* config.epochs=2"):
        TrainingDashboard(small_data, config=TrainConfig(epochs=2))  # it was dropped without a word
    with pytest.raises(ValueError, match=r"config.seconds must be a whole number from 2 to 300.*got 0.4"):
        TrainingDashboard(small_data, config=TrainConfig(seconds=0.4))  # it said "got 0"
    assert TrainingDashboard(small_data, config=TrainConfig(seconds=45.0)).seconds.value == 45


def test_an_error_in_a_run_from_a_cell_is_raised_there(small_data):
    # dashboard.run() in a cell (as notebook 04 calls it) shows the error in the cell, even where the
    # Start button trains in the background; there, a thread's traceback would reach no one.
    bad = SimpleNamespace(**{**vars(small_data), "train_labels": small_data.train_labels + 10})
    dash = TrainingDashboard(bad, config=TrainConfig(batch_size=64))
    assert dash.background
    with pytest.raises(ValueError, match="label"):
        dash.run()
    assert "error: ValueError" in dash.status.value and dash.result is None
    dash.start_button.click()  # in the background: shown in the widget only
    dash.wait(timeout=30)
    assert isinstance(dash.error, ValueError) and "error: ValueError" in dash.status.value


def test_live_curves_wait_nine_frames_time_between_frames_however_slow_a_frame(small_data, monkeypatch):
    # The invariant behind "at most a tenth of the wait": after a frame of d seconds the next one starts
    # at least 9d later. Checked frame by frame, not as a share of one short run's wall time (the first
    # frame comes at once, so a 3 s run's share depends on how many frames fit).
    from resblock.widgets import dashboard as dashboard_module

    dash = TrainingDashboard(small_data, config=TrainConfig(batch_size=64), background=False, redraw_interval=0.0)
    dash.width.value, dash.seconds.value = 8, 3
    frames = []

    def slow_show(history):  # a frame as slow as a busy classroom server draws one
        start = time.perf_counter()
        time.sleep(0.05)
        frames.append((start, time.perf_counter()))

    monkeypatch.setattr(dash, "_show", slow_show)
    dash.start_button.click()
    assert dash.result is not None and len(frames) >= 3  # the curves still move during the run
    wait = (1 - dashboard_module.MAX_PLOT_SHARE) / dashboard_module.MAX_PLOT_SHARE  # 9
    during = frames[:-1]  # the last frame is the end-of-run one, drawn at once
    for (start, end), (next_start, _) in zip(during, during[1:]):
        assert next_start - end >= wait * (end - start), (start, end, next_start)
