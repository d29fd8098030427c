"""resblock.gradients against oracles: autograd, finite differences and closed forms (notebook 02)."""

import math
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from resblock.blocks import ResidualBlock
from resblock.gradients import (
    BlockSplit,
    activation_stats,
    binomial_path_counts,
    blocks_of,
    grad_norms_per_layer,
    gradients_along_line,
    identity_branch_split,
    jacobian_singular_values,
    lag1_autocorrelation,
    scalar_chain_gradient,
    split_block_gradient,
    weighted_layers,
)
from resblock.gradients_plots import (
    DecadeLocator,
    decade_label,
    draw_note,
    plot_along_line,
    plot_gradient_split,
    plot_layer_values,
    plot_singular_values,
    plot_split_shares,
)
from resblock.models import DeepMLP, MLPConfig, ResNet, ResNetConfig


def _mlp(seed=0, **kw):
    torch.manual_seed(seed)
    kw = {"depth": 6, "width": 8, "in_features": 12, **kw}
    return DeepMLP(MLPConfig(**kw)).double()


def _batch(n=5, features=12, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, features, generator=g, dtype=torch.float64), torch.randint(0, 10, (n,), generator=g)


# --- the scalar toy ---------------------------------------------------------------------------


@pytest.mark.parametrize("w, depth", [(0.1, 10), (-0.3, 7), (0.5, 50), (2.0, 3)])
def test_scalar_chain_matches_closed_form(w, depth):
    assert scalar_chain_gradient(w, depth, shortcut=True) == pytest.approx((1 + w) ** depth, rel=1e-12)
    assert scalar_chain_gradient(w, depth, shortcut=False) == pytest.approx(w**depth, rel=1e-12)


def test_scalar_chain_depth_zero_is_identity():
    assert scalar_chain_gradient(0.3, 0) == 1.0


def test_binomial_paths_count_all_2_to_the_L_paths():
    for depth in (0, 1, 5, 20):
        counts = binomial_path_counts(depth)
        assert sum(counts) == 2**depth
        # sum_k C(L,k) w^k is the expansion of (1 + w)^L: the paths add up to the toy's gradient
        assert sum(c * 0.1**k for k, c in enumerate(counts)) == pytest.approx(1.1**depth)


@pytest.mark.parametrize("bad", [-1, 2.5, True])
def test_scalar_chain_rejects_bad_depth(bad):
    with pytest.raises(ValueError, match="depth"):
        scalar_chain_gradient(0.1, bad)


# --- per-layer gradient norms -------------------------------------------------------------------


def test_grad_norms_match_backward_and_leave_model_untouched():
    model, (x, y) = _mlp(norm="batch", shortcut_scale=0.5), _batch()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    norms = grad_norms_per_layer(model, x, y)
    assert not model.training, "the model's mode must be restored"
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), f"{k} changed (BatchNorm running stats must be restored)"
    assert all(p.grad is None for p in model.parameters()), ".grad must stay untouched"
    # oracle: an ordinary backward pass in training mode
    model.train()
    F.cross_entropy(model(x), y).backward()
    expected = {name: float(m.weight.grad.norm()) for name, m in weighted_layers(model)}
    assert list(norms) == ["stem"] + [f"blocks.{i}.linear" for i in range(6)] + ["head"]
    for name in expected:
        assert norms[name] == pytest.approx(expected[name], rel=1e-10)


def test_grad_norm_is_the_directional_derivative_along_the_gradient():
    # Finite differences: moving W by eps along g/|g| changes the loss by eps * |g|.
    model, (x, y) = _mlp(activation="tanh", shortcut_scale=1.0), _batch()
    norms = grad_norms_per_layer(model, x, y)
    for name, layer in weighted_layers(model)[1:4]:
        (g,) = torch.autograd.grad(F.cross_entropy(model(x), y), layer.weight)
        d, eps = g / g.norm(), 1e-6
        with torch.no_grad():
            layer.weight += eps * d
            up = float(F.cross_entropy(model(x), y))
            layer.weight -= 2 * eps * d
            down = float(F.cross_entropy(model(x), y))
            layer.weight += eps * d
        assert (up - down) / (2 * eps) == pytest.approx(norms[name], rel=1e-5)


@pytest.mark.parametrize("shortcut_scale", [0.0, 0.7, 1.0])
def test_linear_residual_stack_matches_closed_form(shortcut_scale):
    # A linear stack h_l = shortcut_scale h_{l-1} + W_l h_{l-1} + b_l: dL/dW_l = g_l h_{l-1}^T with
    # g_l = (prod_{k>l} (shortcut_scale I + W_k))^T dL/dh_L.
    model, (x, y) = _mlp(activation="linear", shortcut_scale=shortcut_scale), _batch()
    norms = grad_norms_per_layer(model, x, y)
    with torch.no_grad():
        hs = [model.stem(x)]
        for block in model.blocks:
            hs.append(
                hs[-1] @ (shortcut_scale * torch.eye(8, dtype=torch.float64) + block.linear.weight).T
                + block.linear.bias
            )
    h_last = hs[-1].clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model.head(h_last), y), h_last)
    for i in reversed(range(len(model.blocks))):
        expected = g.T @ hs[i]  # (width, width): sum over the batch of g h^T
        assert norms[f"blocks.{i}.linear"] == pytest.approx(float(expected.norm()), rel=1e-9)
        g = g @ (shortcut_scale * torch.eye(8, dtype=torch.float64) + model.blocks[i].linear.weight.detach())


def test_conv_net_layers_are_the_6n_plus_2_without_projections():
    model = ResNet(ResNetConfig(depth=8))
    x, y = torch.randn(4, 1, 12, 12), torch.randint(0, 10, (4,))
    norms = grad_norms_per_layer(model, x, y)
    assert len(norms) == 8 and not any("shortcut" in n for n in norms)
    assert len(weighted_layers(model, projections=True)) == 10  # two 1x1 projections
    assert all(math.isfinite(v) and v > 0 for v in norms.values())


def test_bad_batches_are_explained():
    model = _mlp()
    with pytest.raises(ValueError, match="at least 2"):
        grad_norms_per_layer(model, torch.randn(1, 12, dtype=torch.float64), torch.tensor([1]))
    with pytest.raises(ValueError, match="one label per example"):
        grad_norms_per_layer(model, *(_batch()[0], torch.tensor([1, 2])))
    with pytest.raises(ValueError, match="DeepMLP"):
        blocks_of(torch.nn.Linear(3, 3))


# --- activation statistics ------------------------------------------------------------------------


def test_activation_stats_match_a_direct_computation():
    model, (x, _) = _mlp(shortcut_scale=1.0), _batch()
    stats = activation_stats(model, x)
    with torch.no_grad():  # the oracle needs no graph
        h = model.stem(x)
    for i, block in enumerate(model.blocks):
        with torch.no_grad():
            h = block(h)
        s = stats[f"blocks.{i}"]
        assert s["rms"] == pytest.approx(float(h.pow(2).mean().sqrt()))
        assert s["mean"] == pytest.approx(float(h.mean()))
        assert s["zero_fraction"] == pytest.approx(float((h == 0).double().mean()))


def test_unnormalised_residual_activations_grow_and_batch_norm_tames_them():
    # Variance adds up block after block: x + relu(Wx) with He init roughly doubles E[x^2].
    x = torch.randn(32, 12, dtype=torch.float64)
    rms = lambda **kw: [s["rms"] for s in activation_stats(_mlp(depth=30, width=32, init="kaiming", **kw), x).values()]
    plain, res, res_bn = rms(shortcut_scale=0.0), rms(shortcut_scale=1.0), rms(shortcut_scale=1.0, norm="batch")
    assert res[-1] / res[0] > 1e5
    assert plain[-1] / plain[0] < 1e2
    assert res_bn[-1] / res_bn[0] < 30  # grows like sqrt(depth), not exponentially


# --- the identity-vs-branch split ---------------------------------------------------------------


def _block_grads_by_autograd(model, x, y, at: str = "input"):
    """Oracle: dLoss/d(each block's input, or output) from one ordinary backward pass with retained gradients."""
    kept = []

    def keep(t):
        t.retain_grad()
        kept.append(t)

    handles = [
        b.register_forward_pre_hook(lambda _m, args: keep(args[0]))
        if at == "input"
        else b.register_forward_hook(lambda _m, _args, out: keep(out))
        for _, b in blocks_of(model)
    ]
    model.train()
    F.cross_entropy(model(x), y).backward()
    for h in handles:
        h.remove()
    return [t.grad for t in kept]


@pytest.mark.parametrize("shortcut_scale, norm", [(1.0, "none"), (0.5, "batch"), (0.0, "none"), (1.0, "layer")])
def test_split_adds_up_to_the_total_mlp(shortcut_scale, norm):
    model, (x, y) = _mlp(shortcut_scale=shortcut_scale, norm=norm, activation="tanh"), _batch()
    splits = identity_branch_split(model, x, y)
    oracle = _block_grads_by_autograd(model, x, y)
    assert len(splits) == len(oracle) == 6
    for s, g in zip(splits, oracle):
        assert s.total == pytest.approx(float(g.norm()), rel=1e-9)
        if shortcut_scale == 0.0:
            assert s.shortcut == 0.0 and s.shortcut_share == 0.0
    # The shortcut part, against autograd: an MLP block is H = s x + R(x), so the shortcut carries s times
    # the gradient at the block's output back to its input, and its share is its projection on the total.
    for s, g_in, g_out in zip(splits, oracle, _block_grads_by_autograd(model, x, y, "output")):
        shortcut = shortcut_scale * g_out
        assert s.shortcut == pytest.approx(float(shortcut.norm()), rel=1e-6, abs=1e-12)
        assert s.shortcut_share == pytest.approx(float((shortcut * g_in).sum() / g_in.norm() ** 2), rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("shortcut", [True, False])
def test_split_adds_up_to_the_total_conv(shortcut):
    torch.manual_seed(0)
    model = ResNet(ResNetConfig(depth=8, shortcut=shortcut)).double()
    x, y = torch.randn(4, 1, 12, 12, dtype=torch.float64), torch.randint(0, 10, (4,))
    splits = identity_branch_split(model, x, y)
    oracle = _block_grads_by_autograd(model, x, y)
    for s, g in zip(splits, oracle):
        assert s.total == pytest.approx(float(g.norm()), rel=1e-8)
        assert (s.shortcut > 0) == shortcut


def test_split_of_one_block_as_vectors():
    # For H = shortcut_scale x + R(x): the shortcut part is exactly shortcut_scale * g, the branch part J_R^T g,
    # checked against finite differences of <g, R(x)>.
    model, (x, _) = _mlp(shortcut_scale=0.7, activation="tanh"), _batch()
    block, h = model.blocks[2], model.stem(x).detach()
    g = torch.randn_like(h)
    g_s, g_b = split_block_gradient(block, h, g)
    assert torch.allclose(g_s, 0.7 * g)
    d, eps = torch.randn_like(h), 1e-6
    with torch.no_grad():
        up, down = float((g * block.residual(h + eps * d)).sum()), float((g * block.residual(h - eps * d)).sum())
    fd = (up - down) / (2 * eps)
    assert float((g_b * d).sum()) == pytest.approx(fd, rel=1e-6)


def test_split_rejects_other_modules():
    with pytest.raises(ValueError, match="MLPBlock"):
        split_block_gradient(torch.nn.Linear(3, 3), torch.randn(2, 3), torch.randn(2, 3))


# --- Jacobians and shattered gradients -----------------------------------------------------------


@pytest.mark.parametrize("shortcut_scale", [0.0, 1.0])
def test_jacobian_of_linear_stack_is_the_product_closed_form(shortcut_scale):
    model = _mlp(activation="linear", shortcut_scale=shortcut_scale)
    product = torch.eye(8, dtype=torch.float64)
    for block in model.blocks:
        product = (shortcut_scale * torch.eye(8, dtype=torch.float64) + block.linear.weight) @ product
    sv = jacobian_singular_values(model, _batch()[0][0])
    assert torch.allclose(sv, torch.linalg.svdvals(product), rtol=1e-9)


def test_jacobian_refuses_batch_norm_and_batches():
    with pytest.raises(ValueError, match="batch norm"):
        jacobian_singular_values(_mlp(norm="batch"), torch.randn(12, dtype=torch.float64))
    with pytest.raises(ValueError, match="one example"):
        jacobian_singular_values(_mlp(), torch.randn(3, 12, dtype=torch.float64))


def test_gradients_along_line_are_per_example_derivatives():
    torch.manual_seed(0)
    model = DeepMLP(MLPConfig(depth=4, width=16, in_features=1, num_classes=1, norm="batch")).double()
    xs = torch.linspace(-2, 2, 10, dtype=torch.float64).unsqueeze(1)
    g = gradients_along_line(model, xs)
    # oracle: finite differences with BatchNorm frozen at this batch's statistics (what the
    # function promises); perturbing one example must not move the others' outputs.
    from resblock.gradients import _batchnorm_frozen_at

    with _batchnorm_frozen_at(model, xs), torch.no_grad():
        eps = 1e-6
        fd = (model(xs + eps) - model(xs - eps)) / (2 * eps)
    assert torch.allclose(g, fd, rtol=1e-5, atol=1e-8)
    assert model.training


def test_lag1_autocorrelation_tells_white_from_brown_noise():
    torch.manual_seed(0)
    white = torch.randn(2000)
    assert abs(lag1_autocorrelation(white)) < 0.1
    assert lag1_autocorrelation(white.cumsum(0)) > 0.9
    with pytest.raises(ValueError, match="at least 3"):
        lag1_autocorrelation(torch.tensor([1.0, 2.0]))


def test_activation_stats_std_is_each_block_outputs_std():
    model, (x, _) = _mlp(shortcut_scale=1.0), _batch()
    stats = activation_stats(model, x)
    with torch.no_grad():  # oracle: torch's std of each block's output (outputs not centred: std != rms)
        h = model.stem(x)
        for i, block in enumerate(model.blocks):
            h = block(h)
            assert stats[f"blocks.{i}"]["std"] == pytest.approx(float(h.std()), rel=1e-12)


def test_split_of_a_conv_block_with_a_scaled_shortcut():
    torch.manual_seed(0)
    block = ResidualBlock(4, 4, shortcut_scale=0.5).double().eval()
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    g = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    g_s, g_b = split_block_gradient(block, x, g)
    # oracle: H = relu(R(x) + 0.5 x), so the shortcut carries 0.5 g where the ReLU passed, and the
    # two parts add up to autograd's gradient of <g, H(x)>
    with torch.no_grad():
        passed = block(x) > 0
    torch.testing.assert_close(g_s, 0.5 * g * passed)
    xr = x.clone().requires_grad_(True)
    (total,) = torch.autograd.grad((g * block(xr)).sum(), xr)
    torch.testing.assert_close(g_s + g_b, total)


def test_lag1_autocorrelation_of_an_alternating_sequence():
    # by hand: mean 0.2, deviations (0.8, -1.2, 0.8, -1.2, 0.8); sum of squares 3 * 0.64 + 2 * 1.44 = 4.8;
    # neighbours' products 4 * (0.8 * -1.2) = -3.84; -3.84 / 4.8 = -0.8
    assert lag1_autocorrelation(torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0])) == pytest.approx(-0.8, rel=1e-12)


def test_batchnorm_frozen_at_a_batch_uses_exactly_that_batchs_statistics():
    from resblock.gradients import _batchnorm_frozen_at

    bn = torch.nn.BatchNorm1d(3).double()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
        bn.bias.copy_(torch.tensor([0.0, -1.0, 1.0]))
        bn.running_mean.fill_(5.0)  # stale statistics, which must not leak in
    model = torch.nn.Sequential(bn)
    x = torch.randn(6, 3, dtype=torch.float64) * 3 + 2
    y = torch.randn(4, 3, dtype=torch.float64)
    with _batchnorm_frozen_at(model, x):
        assert not model.training
        # oracle: x's own mean and (unbiased, as BN stores it) variance, not a blend with the old ones
        torch.testing.assert_close(bn.running_mean, x.mean(0))
        torch.testing.assert_close(bn.running_var, x.var(0))
        expected = (y - x.mean(0)) / (x.var(0) + bn.eps).sqrt() * bn.weight + bn.bias
        torch.testing.assert_close(model(y), expected)
    assert model.training and float(bn.running_mean[0]) == 5.0  # left as it was


def test_jacobian_is_taken_at_the_stems_output():
    model = _mlp(activation="tanh", shortcut_scale=1.0)
    x = _batch()[0][0] * 3  # a scale where tanh bends, so the Jacobian depends on the point
    h0 = model.stem(x[None])[0].detach()

    def stack(h):
        h = h[None]
        for block in model.blocks:
            h = block(h)
        return h[0]

    # oracle: torch's Jacobian of the block stack at h_0 = stem(x)
    expected = torch.linalg.svdvals(torch.autograd.functional.jacobian(stack, h0))
    torch.testing.assert_close(jacobian_singular_values(model, x), expected, rtol=1e-9, atol=1e-12)


def test_strip_batchnorm_leaves_a_conv_net_without_normalisation():
    from resblock.gradients import strip_batchnorm

    torch.manual_seed(0)
    net = ResNet(ResNetConfig(depth=8)).eval()
    convs_before = [m.weight.clone() for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert strip_batchnorm(net) is net  # in place, returned so it can wrap a constructor
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert all(
        torch.equal(a, m.weight)
        for a, m in zip(convs_before, [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)])
    )
    # Oracle: the stem with its BN removed is the bare conv followed by ReLU.
    x = torch.randn(2, 1, 28, 28)
    assert torch.allclose(net.stem(x), F.relu(net.conv1(x)))
    with pytest.raises(ValueError, match="torch.nn.Module"):
        strip_batchnorm("resnet")


# --- the pictures of notebook 02 (resblock.gradients_plots) against the data they were given ---------


def test_log_tick_labels_are_plain_text_with_whole_exponents(figures):
    assert [decade_label(v) for v in (1e10, 1e5, 1.0, 1e-5, 2e-3, 1e-20)] == [
        "1e10",
        "1e5",
        "1e0",
        "1e-5",
        "2e-3",
        "1e-20",
    ]
    ax = plot_layer_values({"plain": [1e-20, 1e-10, 1.0, 1e10]})
    ax.figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert labels and all(re.fullmatch(r"[1-9]e(0|-?[1-9][0-9]*)", t) for t in labels), labels


@pytest.mark.parametrize(
    "view, labels",
    [
        ((1e-52, 1e2), ["1e-50", "1e-40", "1e-30", "1e-20", "1e-10", "1e0"]),  # notebook 02's scalar toy: by 10s
        ((1e-20, 1e11), ["1e-20", "1e-15", "1e-10", "1e-5", "1e0", "1e5", "1e10"]),
        ((2e-3, 5e2), ["1e-2", "1e-1", "1e0", "1e1", "1e2"]),  # every decade where they fit
        ((0.3, 0.9), ["3e-1", "4e-1", "5e-1", "6e-1", "7e-1", "8e-1", "9e-1"]),  # under a decade: still labelled
        ((0.15, 0.6), ["2e-1", "5e-1"]),
    ],
)
def test_log_ticks_step_by_a_countable_number_of_decades(view, labels):
    assert [decade_label(v) for v in DecadeLocator(numticks=7).tick_values(*view)] == labels


def test_a_long_note_stays_inside_its_axes(figures):
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    note = "plain, default init: exactly 0 (float32 underflow) at layers 1-50 - not drawn; NaN at layers 51-60"
    draw_note(axes[2], note)
    fig.canvas.draw()
    box = axes[2].texts[0].get_window_extent()
    assert box.x1 <= axes[2].get_window_extent().x1  # wrapped at the panel's edge, not the figure's
    assert axes[2].texts[0].get_text().replace("\n", " ") == note  # every word kept


def _legend_labels(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _notes(ax):
    return [" ".join(t.get_text().split()) for t in ax.texts]  # as one line: draw_note wraps at the panel's width


def test_plot_gradient_split_draws_each_blocks_three_norms(figures):
    model, (x, y) = _mlp(shortcut_scale=0.5, activation="tanh"), _batch()
    splits = identity_branch_split(model, x, y)
    ax = plot_gradient_split(splits, title="six blocks")
    fig = figures.own_new_figure(ax)
    want = {
        "total": [s.total for s in splits],
        "through the shortcut": [s.shortcut for s in splits],
        "through the branch": [s.branch for s in splits],
    }
    assert [line.get_label() for line in ax.get_lines()] == list(want)
    for line, values in zip(ax.get_lines(), want.values()):
        np.testing.assert_allclose(line.get_xdata(), np.arange(1, len(splits) + 1))
        np.testing.assert_allclose(line.get_ydata(), values, rtol=1e-12)
    assert _legend_labels(ax) == list(want)
    assert ax.get_yscale() == "log" and ax.get_xscale() == "linear"
    assert ax.get_title() == "six blocks"
    assert ax.get_xlabel() == "block (1 = input side)" and ax.get_ylabel() == "||dL/d(block input)||"
    assert _notes(ax) == []  # every value is positive and finite: nothing left out
    plt.close(fig)


def test_plot_gradient_split_draws_on_the_callers_axes(figures):
    fig, (left, right) = plt.subplots(1, 2)
    splits = [BlockSplit("b1", 2.0, 1.5, 1.0, 0.6), BlockSplit("b2", 1.0, 0.5, 0.8, 0.3)]
    assert plot_gradient_split(splits, ax=right) is right
    assert plot_split_shares(splits, ax=left) is left
    assert figures.new() == {fig.number}  # no figure of their own
    assert len(right.get_lines()) == 3 and len(left.get_lines()) == 3  # two shares and the zero line
    assert right.get_title() == "" and left.get_title() == ""  # no title asked for, none drawn
    plt.close(fig)


def test_plot_gradient_split_names_the_values_a_log_scale_cannot_show(figures):
    # A plain stack (shortcut_scale 0) has no shortcut part at all: no line, and a note says why
    # (no shortcut, not float32 underflow, which is what an exact 0 means in a deep net's profile).
    model, (x, y) = _mlp(shortcut_scale=0.0), _batch()
    splits = identity_branch_split(model, x, y)
    assert all(s.shortcut == 0.0 for s in splits)
    ax = plot_gradient_split(splits)
    total, branch = ax.get_lines()
    assert (total.get_label(), branch.get_label()) == ("total", "through the branch")
    np.testing.assert_allclose(total.get_ydata(), [s.total for s in splits], rtol=1e-12)
    np.testing.assert_allclose(branch.get_ydata(), [s.branch for s in splits], rtol=1e-12)
    (note,) = _notes(ax)
    assert note == "through the shortcut: 0 at every block (this net has no shortcut) - not drawn"
    plt.close(ax.figure)
    # One block whose shortcut part underflows, in a net that has shortcuts, is named by its number.
    splits = identity_branch_split(_mlp(shortcut_scale=1.0, activation="tanh"), x, y)
    splits[2] = BlockSplit("b3", 1.0, 0.0, 1.0, 0.0)
    ax = plot_gradient_split(splits)
    assert len(ax.get_lines()) == 3
    assert _notes(ax) == ["through the shortcut: exactly 0 (float32 underflow) at block 3 - not drawn"]
    plt.close(ax.figure)


def test_plot_split_shares_draws_the_two_shares_that_add_to_one(figures):
    model, (x, y) = _mlp(shortcut_scale=0.7, activation="tanh"), _batch()
    splits = identity_branch_split(model, x, y)
    ax = plot_split_shares(splits, title="shares")
    fig = figures.own_new_figure(ax)
    shortcut, branch, zero = ax.get_lines()
    assert (shortcut.get_label(), branch.get_label()) == ("shortcut share", "branch share")
    assert _legend_labels(ax) == ["shortcut share", "branch share"]
    x_blocks = np.arange(1, len(splits) + 1)
    np.testing.assert_allclose(shortcut.get_xdata(), x_blocks)
    np.testing.assert_allclose(branch.get_xdata(), x_blocks)
    np.testing.assert_allclose(shortcut.get_ydata(), [s.shortcut_share for s in splits], rtol=1e-12)
    np.testing.assert_allclose(branch.get_ydata(), [s.branch_share for s in splits], rtol=1e-12)
    np.testing.assert_allclose(np.add(shortcut.get_ydata(), branch.get_ydata()), 1.0, rtol=1e-12)
    np.testing.assert_allclose(zero.get_ydata(), [0.0, 0.0])  # the reference line at 0
    assert ax.get_yscale() == "linear"  # shares can be negative: no log scale
    assert ax.get_title() == "shares"
    assert ax.get_xlabel() == "block (1 = input side)" and ax.get_ylabel() == "share of dL/d(block input)"
    plt.close(fig)


def test_plot_singular_values_draws_each_spectrum_on_a_log_scale(figures):
    x = _batch()[0][0]
    spectra = {
        name: jacobian_singular_values(_mlp(shortcut_scale=s, activation="tanh"), x).numpy()
        for name, s in [("plain", 0.0), ("residual", 1.0)]
    }
    ax = plot_singular_values(spectra)
    fig = figures.own_new_figure(ax)
    assert [line.get_label() for line in ax.get_lines()] == ["plain", "residual"]
    assert _legend_labels(ax) == ["plain", "residual"]
    for line, values in zip(ax.get_lines(), spectra.values()):
        assert np.all(np.diff(values) <= 0)  # largest first, as the x label says
        np.testing.assert_allclose(line.get_xdata(), np.arange(1, len(values) + 1))
        np.testing.assert_allclose(line.get_ydata(), values, rtol=1e-12)
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "index (largest first)" and ax.get_ylabel() == "singular value"
    # the course's contrast: plain dashed with open markers, residual solid
    plain, residual = ax.get_lines()
    assert plain.get_linestyle() == "--" and residual.get_linestyle() == "-"
    assert _notes(ax) == []
    plt.close(fig)


def test_plot_singular_values_leaves_out_zeros_and_says_so(figures):
    ax = plot_singular_values({"plain": [4.0, 1.0, 1e-3, 0.0, 0.0]})
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_ydata(), [4.0, 1.0, 1e-3, np.nan, np.nan])
    (note,) = _notes(ax)
    assert note == "plain: exactly 0 (float32 underflow) at indices 4-5 - not drawn"
    plt.close(ax.figure)


def test_plot_along_line_draws_each_curve_at_unit_rms_and_offset(figures):
    torch.manual_seed(0)
    xs = torch.linspace(-2, 2, 40, dtype=torch.float64).unsqueeze(1)
    curves = {}
    for name, s in [("plain, 4 blocks", 0.0), ("residual, 4 blocks", 1.0)]:
        model = DeepMLP(MLPConfig(depth=4, width=16, in_features=1, num_classes=1, shortcut_scale=s)).double()
        curves[name] = gradients_along_line(model, xs)[:, 0].numpy()
    curves["flat"] = np.zeros(40)  # RMS 0: drawn as it is, not divided by 0
    ax = plot_along_line(xs[:, 0].numpy(), curves)
    fig = figures.own_new_figure(ax)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == list(curves)
    assert _legend_labels(ax) == list(curves)
    for i, (line, values) in enumerate(zip(lines, curves.values())):
        np.testing.assert_allclose(line.get_xdata(), xs[:, 0].numpy())
        rms = np.sqrt(np.mean(values**2)) or 1.0
        np.testing.assert_allclose(line.get_ydata(), values / rms + 4 * i, rtol=1e-12, atol=1e-12)
        if i < 2:  # the scaled curve has unit RMS about its offset
            assert np.sqrt(np.mean((line.get_ydata() - 4 * i) ** 2)) == pytest.approx(1.0)
    np.testing.assert_allclose(lines[2].get_ydata(), 8.0)
    assert ax.get_yscale() == "linear" and list(ax.get_yticks()) == []
    assert ax.get_xlabel() == "input x" and ax.get_ylabel() == "d out / d x (scaled, offset)"
    plt.close(fig)
