"""The block variants of notebook 07, each against its definition, and the ResNet built from them."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from resblock.blocks import (
    BLOCKS,
    AddLayer,
    Bottleneck,
    DenseLayer,
    PreActBlock,
    ResidualBlock,
    ReZeroBlock,
    dense_block,
)
from resblock.models import ResNet, ResNetConfig, count_parameters
from resblock.train import History
from resblock.variants import RunSummary
from resblock.variants_plots import plot_losses


def _bn(x, bn):
    """BatchNorm in training mode, written out: (x - batch mean) / sqrt(batch var + eps) * gamma + beta."""
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + bn.eps) * bn.weight[None, :, None, None] + bn.bias[None, :, None, None]


def _conv(x, conv):
    return F.conv2d(x, conv.weight, conv.bias, stride=conv.stride, padding=conv.padding)


def _randomise_bn(block):
    """Give every BN a non-trivial gamma and beta, so a swapped order cannot pass by accident."""
    with torch.no_grad():
        for m in block.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)


# --- pre-activation (He et al. 2016) -----------------------------------------------------------


@pytest.mark.parametrize("in_planes, planes, stride", [(8, 8, 1), (8, 16, 2)])
def test_preact_forward_is_its_definition(in_planes, planes, stride):
    block = PreActBlock(in_planes, planes, stride).train()
    _randomise_bn(block)
    x = torch.randn(4, in_planes, 6, 6)
    a = F.relu(_bn(x, block.bn1))
    branch = _conv(F.relu(_bn(_conv(a, block.conv1), block.bn2)), block.conv2)
    shortcut = x if stride == 1 and in_planes == planes else _conv(a, block.shortcut)
    torch.testing.assert_close(block(x), shortcut + branch, rtol=1e-4, atol=1e-5)


def test_preact_has_no_relu_after_the_addition():
    block = PreActBlock(8, 8).train()
    block.zero_init_branch_()
    x = torch.randn(4, 8, 5, 5)  # half the entries negative
    torch.testing.assert_close(block(x), x)  # exactly the identity, negative values included
    post = ResidualBlock(8, 8).train()
    post.zero_init_branch_()
    torch.nn.init.zeros_(post.bn2.bias)
    assert (post(x) >= 0).all() and not torch.allclose(post(x), x)  # the post-activation block clips them


def test_preact_gradient_through_identity_is_exact():
    block = PreActBlock(4, 4).train()
    block.zero_init_branch_()
    x = torch.randn(2, 4, 3, 3, requires_grad=True)
    g = torch.randn(2, 4, 3, 3)
    (gx,) = torch.autograd.grad(block(x), x, g)
    torch.testing.assert_close(gx, g)  # dH/dx = I when R = 0, whatever the sign of x


# --- bottleneck ------------------------------------------------------------------------------


def test_bottleneck_layers_have_torchvision_names_and_shapes():
    b = Bottleneck(64, 16, stride=2)
    assert Bottleneck.expansion == 4
    assert [n for n, _ in b.named_children()] == ["conv1", "bn1", "conv2", "bn2", "conv3", "bn3", "shortcut"]
    assert (b.conv1.kernel_size, b.conv2.kernel_size, b.conv3.kernel_size) == ((1, 1), (3, 3), (1, 1))
    assert (b.conv1.stride, b.conv2.stride, b.conv3.stride) == ((1, 1), (2, 2), (1, 1))
    assert (b.conv1.out_channels, b.conv2.out_channels, b.conv3.out_channels) == (16, 16, 64)


@pytest.mark.parametrize("in_planes, planes, stride", [(64, 16, 1), (16, 16, 1), (64, 32, 2)])
def test_bottleneck_forward_is_its_definition(in_planes, planes, stride):
    block = Bottleneck(in_planes, planes, stride).train()
    _randomise_bn(block)
    x = torch.randn(4, in_planes, 6, 6)
    r = F.relu(_bn(_conv(x, block.conv1), block.bn1))
    r = F.relu(_bn(_conv(r, block.conv2), block.bn2))
    r = _bn(_conv(r, block.conv3), block.bn3)
    identity = stride == 1 and in_planes == 4 * planes
    assert isinstance(block.shortcut, torch.nn.Identity) is identity
    shortcut = x if identity else _bn(_conv(x, block.shortcut[0]), block.shortcut[1])
    torch.testing.assert_close(block(x), F.relu(r + shortcut), rtol=1e-4, atol=1e-5)


def test_bottleneck_costs_about_what_a_basic_block_at_a_quarter_width_costs():
    # He et al. 2015, sec. 4.1: the 256-channel bottleneck (1x1 64, 3x3 64, 1x1 256) has a time
    # complexity similar to the 64-channel basic block. Both weights count the multiply-adds per pixel.
    conv_weights = lambda m: sum(c.weight.numel() for c in m.modules() if isinstance(c, torch.nn.Conv2d))
    bottleneck, basic = conv_weights(Bottleneck(256, 64)), conv_weights(ResidualBlock(64, 64))
    assert bottleneck == 256 * 64 + 9 * 64 * 64 + 64 * 256
    assert 0.9 < bottleneck / basic < 1.0
    assert conv_weights(ResidualBlock(256, 256)) > 15 * bottleneck  # two 3x3 convs at full width


# --- zero-init of the last BN gamma (Goyal et al. 2017) -----------------------------------------


@pytest.mark.parametrize("block", ["basic", "bottleneck", "preact"])
def test_zero_init_residual_zeroes_every_branch(block):
    depth = 20
    model = ResNet(ResNetConfig(depth=depth, block=block, zero_init_residual=True)).train()
    model(torch.randn(4, 1, 28, 28))  # a training step's forward pass (BN in batch mode)
    for b in model.blocks:
        c = b.conv1.in_channels
        assert torch.count_nonzero(b.residual(torch.randn(4, c, 7, 7))) == 0


def test_zero_init_is_identity_of_a_nonnegative_input():
    # relu(0 + x) = x for x >= 0: after the previous block's ReLU the post-activation block is the identity.
    block = ResidualBlock(8, 8).train()
    block.zero_init_branch_()
    x = torch.rand(4, 8, 5, 5)
    torch.testing.assert_close(block(x), x)


# --- ReZero / SkipInit -------------------------------------------------------------------------


def test_rezero_is_identity_at_init_and_its_gate_learns():
    block = ReZeroBlock(8, 8).train()
    assert block.gate.requires_grad and float(block.gate.detach()) == 0.0
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in block.modules())  # no normalisation
    x = torch.randn(4, 8, 5, 5)
    torch.testing.assert_close(block(x), x)
    g = torch.randn_like(x)
    grads = torch.autograd.grad(block(x), [block.gate, block.conv1.weight, block.conv2.weight], g)
    # dL/dgate = <g, R(x)>; the branch's weights get nothing while the gate is shut.
    torch.testing.assert_close(grads[0], (g * block.residual(x)).sum(), rtol=1e-4, atol=1e-4)
    assert float(grads[0]) != 0.0
    assert torch.count_nonzero(grads[1]) == 0 and torch.count_nonzero(grads[2]) == 0


@pytest.mark.parametrize("norm", [False, True])
def test_rezero_forward_is_shortcut_plus_gated_branch(norm):
    block = ReZeroBlock(8, 16, stride=2, norm=norm).train()
    with torch.no_grad():
        block.gate.fill_(0.3)
    x = torch.randn(4, 8, 6, 6)
    r = _conv(F.relu(_conv(x, block.conv1)), block.conv2) if not norm else None
    if norm:
        r = _bn(_conv(F.relu(_bn(_conv(x, block.conv1), block.bn1)), block.conv2), block.bn2)
    torch.testing.assert_close(block(x), block.shortcut(x) + 0.3 * r, rtol=1e-4, atol=1e-5)


# --- DenseNet: concatenation vs addition -------------------------------------------------------


def test_dense_layer_appends_growth_channels_and_keeps_x_verbatim():
    layer = DenseLayer(8, 4).train()
    _randomise_bn(layer)
    x = torch.randn(3, 8, 5, 5)
    y = layer(x)
    assert y.shape == (3, 12, 5, 5)
    assert torch.equal(y[:, :8], x)
    torch.testing.assert_close(y[:, 8:], _conv(F.relu(_bn(x, layer.bn)), layer.conv), rtol=1e-4, atol=1e-5)


def test_add_layer_adds_the_same_function():
    layer = AddLayer(8).train()
    x = torch.randn(3, 8, 5, 5)
    torch.testing.assert_close(layer(x), x + layer.new_features(x))


def test_add_layer_without_shortcut_is_the_same_function_alone():
    layer = AddLayer(8, shortcut=False).train()
    x = torch.randn(3, 8, 5, 5)
    torch.testing.assert_close(layer(x), _conv(F.relu(_bn(x, layer.bn)), layer.conv), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="shortcut"):
        AddLayer(8, shortcut="no")


def test_dense_block_channel_count_and_every_input_reaches_the_end():
    block = dense_block(6, 5, num_layers=4)
    x = torch.randn(2, 6, 4, 4)
    y = block(x)
    assert y.shape == (2, 6 + 4 * 5, 4, 4)
    assert torch.equal(y[:, :6], x)  # the block's input is part of its output: a shortcut to every later layer
    with pytest.raises(ValueError, match="num_layers"):
        dense_block(6, 5, 0)


# --- ResNets built from each block -------------------------------------------------------------


@pytest.mark.parametrize(
    "block, depth", [("basic", 8), ("preact", 8), ("rezero", 8), ("bottleneck", 11), ("bottleneck", 20)]
)
def test_resnet_of_each_block(block, depth):
    model = ResNet(ResNetConfig(depth=depth, block=block))
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    layers = [
        n for n, m in model.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and "shortcut" not in n
    ]
    assert len(layers) == depth  # 6n + 2 weighted layers, 9n + 2 with bottlenecks
    assert all(isinstance(b, BLOCKS[block]) for b in model.blocks)


def test_preact_resnet_has_final_bn_relu_and_bare_stem():
    model = ResNet(ResNetConfig(depth=8, block="preact"))
    assert isinstance(model.bn1, torch.nn.Identity)
    assert isinstance(model.final_act[0], torch.nn.BatchNorm2d) and model.final_act[0].num_features == 64


def test_bottleneck_resnet_widths():
    model = ResNet(ResNetConfig(depth=20, block="bottleneck"))
    assert model.fc.in_features == 256
    # Same depth, a quarter of the width inside each branch: fewer parameters than the basic net.
    assert count_parameters(model) < count_parameters(ResNet(ResNetConfig(depth=20)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(block="dense"), "block must be one of"),
        (dict(block="bottleneck", depth=8), "9n"),
        (dict(block="preact", depth=11), "6n"),
        (dict(block="preact", shortcut=False), "shortcut=False"),
    ],
)
def test_bad_block_config_is_explained(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResNetConfig(**kwargs)


@pytest.mark.parametrize(
    "cls, args, words",
    [
        (PreActBlock, (0, 8), "in_planes must be a positive whole number"),
        (Bottleneck, (8, 0), "planes must be a positive whole number"),
        (ReZeroBlock, (8, 8, 0), "stride must be a positive whole number"),
        (DenseLayer, (8, -1), "got -1"),
    ],
)
def test_bad_arguments_raise_value_error(cls, args, words):
    with pytest.raises(ValueError, match=words):
        cls(*args)


# --- resblock.variants: the measurements of notebook 07 ------------------------------------------

from resblock.evaluation import smooth  # noqa: E402
from resblock.train import TrainConfig  # noqa: E402
from resblock.variants import (  # noqa: E402
    add_net,
    block_input_grad_norms,
    concat_net,
    summary_rows,
    train_each,
    weight_grad_norms,
)


def test_block_input_grad_norms_match_autograd_and_leave_model_alone():
    torch.manual_seed(0)
    model = ResNet(ResNetConfig(depth=8))
    x, y = torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    got = block_input_grad_norms(model, list(model.blocks), x, y)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # BN stats untouched
    # Oracle: run the stages by hand and ask autograd for d loss / d (each block's input).
    twin = ResNet(ResNetConfig(depth=8))
    twin.load_state_dict(before)
    h = F.relu(twin.bn1(twin.conv1(x)))
    ins = []
    for b in twin.blocks:
        ins.append(h)
        h = b(h)
    loss = F.cross_entropy(twin.fc(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1)), y)
    want = [float(g.double().norm()) for g in torch.autograd.grad(loss, ins)]
    assert got == pytest.approx(want, rel=1e-4)


def test_identity_at_init_passes_the_gradient_unchanged():
    # With every branch at 0 (ReZero), the gradient reaching each block in a stage is the same.
    model = ResNet(ResNetConfig(depth=20, block="rezero"))
    x, y = torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,))
    g = block_input_grad_norms(model, list(model.blocks), x, y)
    n = 3  # blocks per stage; the first block of stages 2 and 3 has a projection
    for stage in range(3):
        inner = g[stage * n + 1 : (stage + 1) * n]
        assert inner == pytest.approx([inner[0]] * len(inner), rel=1e-6)


def test_block_input_grad_norms_rejects_foreign_blocks():
    model = ResNet(ResNetConfig(depth=8))
    with pytest.raises(ValueError, match="submodule"):
        block_input_grad_norms(model, [ResidualBlock(16, 16)], torch.randn(2, 1, 28, 28), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="empty"):
        block_input_grad_norms(model, [], torch.randn(2, 1, 28, 28), torch.tensor([0, 1]))


def test_concat_and_add_nets():
    dense, add = concat_net(num_layers=3, growth=4, stem=8), add_net(num_layers=3, width=8)
    x = torch.randn(2, 1, 28, 28)
    assert dense(x).shape == add(x).shape == (2, 10)
    assert dense[-1].in_features == 8 + 3 * 4 and add[-1].in_features == 8
    # the stem: a stride-2 conv, then by default a stride-2 max pool, so the layers work on 7x7 maps
    assert dense[0](x).shape == (2, 8, 7, 7) and add[0](x).shape == (2, 8, 7, 7)
    full = concat_net(num_layers=3, growth=4, stem=8, stem_pool=False)
    assert full[0](x).shape == (2, 8, 14, 14) and full(x).shape == (2, 10)
    assert add_net(num_layers=3, width=8, stem_pool=False)[0](x).shape == (2, 8, 14, 14)
    with pytest.raises(ValueError, match="stem_pool"):
        add_net(stem_pool="no")
    # the plain control: the same parameters, initialised alike from one seed, and no layer adds its input
    torch.manual_seed(0)
    with_shortcut = add_net(num_layers=3, width=8)
    torch.manual_seed(0)
    plain = add_net(num_layers=3, width=8, shortcut=False)
    assert all(torch.equal(a, b) for a, b in zip(with_shortcut.state_dict().values(), plain.state_dict().values()))
    h = plain[0](x)
    assert not plain[1].has_shortcut and torch.equal(plain[1](h), plain[1].new_features(h))
    with pytest.raises(ValueError, match="shortcut"):
        add_net(shortcut=1)
    with pytest.raises(ValueError, match="num_layers"):
        add_net(num_layers=0)


def test_train_each_is_reproducible_and_summarised():
    g = torch.Generator().manual_seed(0)
    images, labels = torch.randn(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g)
    config = TrainConfig(epochs=1, batch_size=16, lr=0.05)
    builders = {"add": lambda: add_net(2, 8), "concat": lambda: concat_net(2, 4, 8)}
    a = train_each(builders, images, labels, config, test=(images, labels))
    b = train_each(builders, images, labels, config, test=(images, labels))
    assert a["add"].history.loss == b["add"].history.loss  # same seed, same init, same batches
    assert len(a["concat"].history.loss) == 4
    table = summary_rows(a)
    assert "concat" in table and "parameters" in table


def test_smooth_is_a_trailing_mean():
    assert smooth([1.0, 2.0, 3.0, 4.0], window=2) == [1.0, 1.5, 2.5, 3.5]
    with pytest.raises(ValueError, match="window must be a whole number >= 1"):
        smooth([1.0], window=0)


def test_weight_grad_norms_match_backward():
    torch.manual_seed(0)
    model = ResNet(ResNetConfig(depth=8, block="rezero"))
    x, y = torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,))
    names = ["conv1.weight", "layer1.0.conv1.weight", "layer1.0.gate", "fc.weight"]
    got = weight_grad_norms(model, names, x, y)
    assert all(p.grad is None for p in model.parameters())  # measured on a copy
    F.cross_entropy(model.train()(x), y).backward()
    params = dict(model.named_parameters())
    assert got == pytest.approx([float(params[n].grad.norm()) for n in names], rel=1e-4)
    assert got[1] == 0.0 and got[2] > 0.0  # the gate is shut: the branch learns nothing yet, the gate does
    with pytest.raises(ValueError, match="no parameters named"):
        weight_grad_norms(model, ["nope"], x, y)


# --- resblock.variants_plots: the loss curves of notebook 07 against the runs they were given ---------


def _runs():
    g = torch.Generator().manual_seed(0)
    runs = {}
    for name, acc, steps in [("plain", 0.5, 25), ("residual", 0.8125, 25), ("ReZero", 0.75, 17)]:
        loss = (2.3 / torch.arange(1, steps + 1) + 0.1 * torch.rand(steps, generator=g)).tolist()
        runs[name] = RunSummary(name, 1000, History(loss=loss), acc, 1.0)
    return runs


def test_plot_losses_draws_each_runs_smoothed_loss(figures):
    runs = _runs()
    ax = plot_losses(runs, window=4)
    figures.own_new_figure(ax)  # one new figure, left open (and, the fixture checks, nothing else closed)
    lines = ax.get_lines()
    assert len(lines) == len(runs)
    want_labels = ["plain (50%)", "residual (81%)", "ReZero (75%)"]  # name (test accuracy)
    assert [line.get_label() for line in lines] == want_labels
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == want_labels
    assert legend.get_title().get_text() == "variant (test acc.)"
    for line, run in zip(lines, runs.values()):
        np.testing.assert_allclose(line.get_ydata(), smooth(run.history.loss, 4), rtol=1e-12)
        # one point per step, counted from 1 as in every other training plot of the course
        np.testing.assert_array_equal(line.get_xdata(), np.arange(1, len(run.history.loss) + 1))
    # the smoothing is a trailing mean: its first point is the first loss, its last the last 4 losses' mean
    first = runs["plain"].history.loss
    assert lines[0].get_ydata()[0] == pytest.approx(first[0])
    assert lines[0].get_ydata()[-1] == pytest.approx(sum(first[-4:]) / 4)
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "training loss (mean of 4 steps)"
    assert ax.get_yscale() == "linear"
    plt.close(ax.figure)


def test_plot_losses_draws_on_the_callers_axes():
    fig, (left, right) = plt.subplots(1, 2)
    before = set(plt.get_fignums())
    assert plot_losses(_runs(), ax=right) is right
    assert set(plt.get_fignums()) == before
    assert len(right.get_lines()) == 3 and len(left.get_lines()) == 0
    assert right.get_ylabel() == "training loss (mean of 10 steps)"  # the default window
    plt.close(fig)


@pytest.mark.parametrize("window", [0, -3, 2.5])
def test_plot_losses_rejects_a_bad_window(window):
    before = set(plt.get_fignums())
    with pytest.raises(ValueError, match="window must be a whole number >= 1"):
        plot_losses(_runs(), window=window)
    assert set(plt.get_fignums()) == before  # checked before a figure is made: none left behind
