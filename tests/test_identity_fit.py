"""The identity-fitting experiment of notebook 01, and the claims the notebook makes from it."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from resblock.identity_fit import (  # noqa: E402
    IdentityFitConfig,
    fit_identity,
    identity_stack,
    random_inputs,
)
from resblock.identity_fit_plots import plot_identity_fit  # noqa: E402


def test_zero_init_residual_stack_is_exactly_the_identity_and_stays_there():
    config = IdentityFitConfig(blocks=3, steps=5)
    torch.manual_seed(0)
    stack = identity_stack(config.blocks, config.channels, residual=True, zero_init_residual=True)
    x = random_inputs(config, torch.Generator().manual_seed(0))
    assert torch.equal(stack(x), x)  # relu(0 + x) = x for x >= 0
    assert fit_identity(stack, config) == [0.0] * config.steps  # zero loss, zero gradient, no update


def test_plain_stack_at_r_zero_outputs_zero():
    stack = identity_stack(2, 4, residual=False)
    for block in stack:
        torch.nn.init.zeros_(block.bn2.weight)
        torch.nn.init.zeros_(block.bn2.bias)
    assert torch.count_nonzero(stack(torch.rand(2, 4, 5, 5))) == 0


def test_inputs_are_non_negative_and_reproducible():
    config = IdentityFitConfig()
    a = random_inputs(config, torch.Generator().manual_seed(3))
    b = random_inputs(config, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.min() >= 0 and a.max() <= 1
    assert a.shape == (config.batch, config.channels, config.size, config.size)


@pytest.mark.parametrize("kwargs, match", [(dict(blocks=0), "blocks"), (dict(steps=2.5), "steps"), (dict(lr=0), "lr")])
def test_bad_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        IdentityFitConfig(**kwargs)


def test_zero_init_needs_a_residual_stack():
    with pytest.raises(ValueError, match="residual=True"):
        identity_stack(2, 4, residual=False, zero_init_residual=True)


def test_plot_draws_each_curve_and_the_baseline():
    ax = plot_identity_fit({"a": [1.0, 0.5], "b": [0.0, 0.0]}, baseline=0.1)
    assert [line.get_label() for line in ax.get_lines()][:2] == ["a", "b"] and len(ax.get_lines()) == 3
    assert ax.get_yscale() == "symlog"


def test_plot_tells_two_curves_of_one_family_apart():
    """Notebook 01 draws two residual stacks: same colour and line, but their legend entries must differ."""
    curves = {"plain stack": [1.0, 0.5], "residual stack": [2.0, 0.1], "residual stack, R = 0 at start": [0.0, 0.0]}
    ax = plot_identity_fit(curves, baseline=0.1)
    plain, residual, zero = ax.get_lines()[:3]
    assert residual.get_color() == zero.get_color() and residual.get_linestyle() == zero.get_linestyle()
    looks = {(line.get_color(), line.get_linestyle(), line.get_marker()) for line in (plain, residual, zero)}
    assert len(looks) == 3
    assert ax.get_lines()[3].get_linestyle() == ":"  # the baseline: grey and dotted, as the notebook's text says


@pytest.mark.slow
def test_notebook_claims_plain_learns_the_mean_residual_learns_x():
    """Notebook 01, section 1, at its default config: the numbers its text describes."""
    torch.manual_seed(0)
    config = IdentityFitConfig()
    plain = identity_stack(config.blocks, config.channels, residual=False)
    residual = identity_stack(config.blocks, config.channels, residual=True)
    plain_losses, res_losses = fit_identity(plain, config), fit_identity(residual, config)
    x = random_inputs(config, torch.Generator().manual_seed(1))
    mean_only = F.mse_loss(torch.full_like(x, 0.5), x).item()
    # plain: ends at the level of "output the mean" (Var of U[0, 1] = 1/12), its output uncorrelated with x.
    # The notebook's claim and its tolerance, 1.00 +- 0.3: the sweep measured 1.00-1.13, and two threads on
    # an AVX-512 CPU 1.12 (a 10% tolerance here failed there, while one thread passed).
    assert abs(np.mean(plain_losses[-20:]) / mean_only - 1.0) < 0.3
    with torch.no_grad():
        corr_plain = torch.corrcoef(torch.stack([plain.eval()(x).flatten(), x.flatten()]))[0, 1].item()
        corr_res = torch.corrcoef(torch.stack([residual.eval()(x).flatten(), x.flatten()]))[0, 1].item()
    assert abs(corr_plain) < 0.2 and corr_res > 0.8
    # residual: starts higher, ends well below
    assert res_losses[0] > plain_losses[0] and np.mean(res_losses[-20:]) < np.mean(plain_losses[-20:]) / 3
