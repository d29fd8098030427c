"""Loss landscapes (resblock.landscape, notebook 06) against direct computation."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from resblock import landscape
from resblock.models import ResNet, ResNetConfig


def small_net(shortcut: bool = True) -> ResNet:
    torch.manual_seed(0)
    return ResNet(ResNetConfig(depth=8, shortcut=shortcut, widths=(4, 8, 8))).eval()


def data(n: int = 16):
    g = torch.Generator().manual_seed(3)
    return torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_filter_normalisation_gives_each_filter_the_norm_of_the_weight_filter():
    net = small_net()
    d = landscape.random_direction(net, seed=1)
    checked = 0
    for name, p in net.named_parameters():
        if p.dim() > 1:
            torch.testing.assert_close(d[name].flatten(1).norm(dim=1), p.detach().flatten(1).norm(dim=1))
            checked += 1
        else:  # biases and BN parameters are left out, as in Li et al.
            assert torch.count_nonzero(d[name]) == 0
    assert checked == 1 + 3 * 2 + 2 + 1  # ResNet-8: stem conv, 2 convs per block, 2 projections, fc
    # Not layer-wise: a single scale for the whole tensor would not match every filter.
    w = net.conv1.weight.detach()
    raw = torch.randn_like(w)
    layerwise = raw * w.norm() / raw.norm()
    assert not torch.allclose(layerwise.flatten(1).norm(dim=1), w.flatten(1).norm(dim=1))


def test_filter_normalize_checks_shapes():
    with pytest.raises(ValueError, match="same shape"):
        landscape.filter_normalize(torch.zeros(2, 3), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="zero direction"):
        landscape.filter_normalize(torch.zeros(3), torch.zeros(3))


def test_directions_are_reproducible_and_differ_by_seed():
    net = small_net()
    a, b, c = (landscape.random_direction(net, s) for s in (1, 1, 2))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["conv1.weight"], c["conv1.weight"])


def test_line_at_zero_equals_the_trained_loss_and_leaves_the_model_alone():
    net = small_net()
    x, y = data()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    line = landscape.loss_along_direction(net, landscape.random_direction(net, 1), [-0.5, 0.0, 0.5], x, y)
    with torch.no_grad():
        logits = net(x)
    assert line.loss[1] == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)
    assert line.acc[1] == pytest.approx((logits.argmax(1) == y).float().mean().item())
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


def test_a_point_off_centre_equals_the_loss_of_explicitly_moved_weights():
    net = small_net()
    x, y = data()
    d1, d2 = landscape.random_direction(net, 1), landscape.random_direction(net, 2)
    surface = landscape.loss_surface(net, d1, d2, [0.0, 0.3], [-0.2, 0.0], x, y)
    moved = small_net()
    with torch.no_grad():
        for name, p in moved.named_parameters():
            p.add_(0.3 * d1[name] - 0.2 * d2[name])
        expected = F.cross_entropy(moved(x), y).item()
    assert surface.loss.shape == (2, 2)
    assert surface.loss[0, 1] == pytest.approx(expected, rel=1e-5)  # row b = -0.2, column a = 0.3
    assert surface.loss[1, 0] == pytest.approx(F.cross_entropy(net(x), y).item(), rel=1e-5)
    round_trip = landscape.Surface.from_dict(surface.to_dict())
    np.testing.assert_allclose(round_trip.loss, surface.loss)


def test_batching_does_not_change_the_loss():
    net = small_net()
    x, y = data(10)
    d = landscape.random_direction(net, 1)
    assert landscape.loss_at(net, [(0.4, d)], x, y, batch_size=3)[0] == pytest.approx(
        landscape.loss_at(net, [(0.4, d)], x, y, batch_size=100)[0], rel=1e-5
    )


def test_mismatched_direction_is_rejected():
    with pytest.raises(ValueError, match="does not match"):
        landscape.loss_along_direction(small_net(), {"w": torch.zeros(1)}, [0.0], *data())


def test_fixed_subset_is_fixed():
    x, y = data(20)
    a = landscape.fixed_subset(x, y, 5, seed=0)
    b = landscape.fixed_subset(x, y, 5, seed=0)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(ValueError, match=r"size must lie in 1\.\.20"):
        landscape.fixed_subset(x, y, 21)


def test_sharpness_ratio_of_a_bowl():
    g = np.linspace(-1, 1, 5)
    a, b = np.meshgrid(g, g)
    s = landscape.Surface(g, g, 1.0 + a**2 + b**2, np.zeros((5, 5)), 0.0)
    # points within radius 0.5: the centre (1.0) and its 4 neighbours (1.25)
    assert landscape.sharpness_ratio(s, 0.5) == pytest.approx((1.0 + 4 * 1.25) / 5)


def test_plots():
    import matplotlib

    matplotlib.use("Agg")
    from resblock import landscape_plots as lp

    g = np.linspace(-1, 1, 5)
    a, b = np.meshgrid(g, g)
    s = landscape.Surface(g, g, 1.0 + a**2 + b**2, np.zeros((5, 5)), 0.0)
    axes = lp.plot_landscape_grid({"x": s, "y": s}, [["x", "y"]], kind="contour", cap=3.0)
    assert len(axes) == 2
    # panels over the same grid: b labelled on the left column only, a on the bottom row only
    grid = lp.plot_landscape_grid({"x": s, "y": s}, [["x", "y"], ["y", "x"]], cap=3.0)
    assert [ax.get_ylabel() for ax in grid] == ["b (direction e)", "", "b (direction e)", ""]
    assert [ax.get_xlabel() for ax in grid] == ["", "", "a (direction d)", "a (direction d)"]
    wider = landscape.Surface(2 * g, g, s.loss, s.acc, 0.0)  # another span of a: every panel keeps its a axis
    grid = lp.plot_landscape_grid({"x": s, "w": wider}, [["x"], ["w"]], cap=3.0)
    assert [ax.get_xlabel() for ax in grid] == ["a (direction d)"] * 2 and grid[1].get_ylabel() == "b (direction e)"
    axes = lp.plot_landscape_grid({"x": s}, [["x"]], kind="surface", cap=3.0)
    assert axes[0].name == "3d"
    line = landscape.Line(g, g**2, g, 0.0)
    assert len(lp.plot_lines({"x": line}).get_lines()) == 2  # the curve and the a = 0 marker


def test_local_minima_counts_pits():
    g = np.linspace(-1, 1, 9)
    a, b = np.meshgrid(g, g)
    bowl = landscape.Surface(g, g, a**2 + b**2, np.zeros((9, 9)), 0.0)
    assert landscape.local_minima(bowl) == 1
    egg_box = landscape.Surface(g, g, np.cos(2 * np.pi * a) * np.cos(2 * np.pi * b), np.zeros((9, 9)), 0.0)
    assert landscape.local_minima(egg_box) > 1


def test_saved_grid_centre_is_reproducible_from_the_checkpoint():
    # The committed results file and the committed checkpoint agree: the centre of the saved grid is the
    # trained net's loss on the recorded subset.
    from resblock.data import load_fashion_mnist
    from resblock.trained_nets import load_or_train

    surface, record = landscape.load_results("resnet20")
    data = load_fashion_mnist()
    x, y = landscape.fixed_subset(
        data.train_images, data.train_labels, record["subset"]["size"], record["subset"]["seed"]
    )
    model = load_or_train(record["depth"], record["shortcut"])
    centre = surface.loss[len(surface.betas) // 2, len(surface.alphas) // 2]
    assert centre == pytest.approx(landscape.loss_at(model, [], x, y)[0], rel=1e-4)


def test_load_or_train_trains_saves_and_loads_a_missing_net(tmp_path):
    # The path a learner takes when a checkpoint is missing: train with the study's recipe, save, load.
    from types import SimpleNamespace

    from resblock.checkpoints import load_checkpoint
    from resblock.trained_nets import build, checkpoint_path, load_or_train

    g = torch.Generator().manual_seed(0)
    data = SimpleNamespace(
        train_images=torch.randn(128, 1, 28, 28, generator=g),
        train_labels=torch.randint(0, 10, (128,), generator=g),
        test_images=torch.randn(32, 1, 28, 28, generator=g),
        test_labels=torch.randint(0, 10, (32,), generator=g),
    )
    with pytest.raises(ValueError, match="no checkpoint at .*pass data=load_fashion_mnist"):
        load_or_train(20, True, root=tmp_path)
    model = load_or_train(20, True, data=data, root=tmp_path, epochs=1.0)  # 128 images: one step
    assert not model.training  # handed out ready to evaluate
    saved = load_checkpoint(checkpoint_path(20, True, tmp_path))
    assert saved.history.steps == 1
    fresh = build(20, True)
    moved = [not torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values())]
    assert any(moved)  # it trained (a step away from the seeded initialisation)
    again = load_or_train(20, True, root=tmp_path)  # the second call loads, needing no data
    for a, b in zip(again.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)


def test_run_training_records_each_net_and_refuses_to_overwrite(tmp_path, monkeypatch, capsys):
    # The command behind `python -m resblock.experiments landscape-nets`, its training stood in for by a
    # recorded call (the real one trains for minutes): what it writes to landscape-nets.json, and --force.
    from types import SimpleNamespace

    from resblock import trained_nets
    from resblock.train import History

    trained = []

    def fake_train_and_save(depth, shortcut, data, root):
        trained.append((depth, shortcut))
        trained_nets.checkpoint_path(depth, shortcut, root).write_text("a checkpoint")
        history = History(loss=[2.0, 1.0], test_loss=[0.5], test_acc=[0.8])
        return SimpleNamespace(history=history)

    monkeypatch.setattr(trained_nets, "train_and_save", fake_train_and_save)
    monkeypatch.setattr("resblock.data.load_fashion_mnist", lambda: "the data")
    record = trained_nets.run_training(["resnet20", "plain56"], root=tmp_path)
    assert trained == [(20, True), (56, False)]
    saved = json.loads((tmp_path / "landscape-nets.json").read_text())
    assert saved == record and set(saved["nets"]) == {"resnet20", "plain56"}
    entry = saved["nets"]["plain56"]
    assert (entry["depth"], entry["shortcut"], entry["steps"], entry["test_acc"]) == (56, False, 2, 0.8)
    assert entry["command"] == "python -m resblock.experiments landscape-nets --nets plain56"
    assert "plain56: test accuracy 0.8000 after 2 steps" in capsys.readouterr().out
    with pytest.raises(ValueError, match="exist .*pass --force"):
        trained_nets.run_training("resnet20", root=tmp_path)  # a checkpoint is there: not replaced silently
    trained_nets.run_training("resnet20", root=tmp_path, force=True)
    assert trained[-1] == (20, True) and "--force: replacing" in capsys.readouterr().out
    assert set(json.loads((tmp_path / "landscape-nets.json").read_text())["nets"]) == {"resnet20", "plain56"}


def test_local_minima_exact_counts_on_hand_grids():
    g = np.linspace(-1, 1, 9)  # steps of 0.25
    a, b = np.meshgrid(g, g)
    flat = np.zeros((9, 9))
    # A valley z = a^2: its floor (a = 0) is level along b, so no point is lower than *all* its neighbours.
    assert landscape.local_minima(landscape.Surface(g, g, a**2, flat, 0.0)) == 0
    # An egg box cos(2 pi a) cos(2 pi b): cos is 1, 0, -1, 0, 1, ... along each axis, so the pits (-1) lie
    # where one factor is 1 (3 rows) and the other -1 (2 columns), or the other way round: 2 * 3 * 2 = 12,
    # each surrounded by zeros.
    egg_box = np.cos(2 * np.pi * a) * np.cos(2 * np.pi * b)
    assert landscape.local_minima(landscape.Surface(g, g, egg_box, flat, 0.0)) == 12
    # A single pit on a plateau, next to the edge: the edge counts as higher ground.
    z = np.ones((9, 9))
    z[0, 3] = 0.0
    assert landscape.local_minima(landscape.Surface(g, g, z, flat, 0.0)) == 1


@pytest.mark.parametrize(
    "alphas, message",
    [
        ([], r"alphas must be a non-empty 1-D list of numbers.*got an empty list"),
        (
            torch.zeros(4, 1, 28, 28),
            r"1-D list of numbers.*got a Tensor of shape \(4, 1, 28, 28\)",
        ),  # images in their place
        (["a", "b"], r"alphas must be a list of numbers.*got a list of 2 items"),
        ([0.0, float("nan"), float("inf")], r"finite numbers only, got 2 that are not: \[nan, inf\]"),
    ],
)
def test_bad_coefficients_are_named_in_a_short_message(alphas, message):
    model, (x, y) = small_net(), data()
    with pytest.raises(ValueError, match=message) as caught:
        landscape.loss_along_direction(model, landscape.random_direction(model, seed=1), alphas, x, y)
    assert len(str(caught.value)) < 200  # a description of what came, never the values of a whole tensor
