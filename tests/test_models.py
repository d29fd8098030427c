"""The 6n+2 ResNet and the deep MLP stacks."""

import pytest
import torch
import torch.nn.functional as F

from resblock.models import (
    MAX_DEPTH,
    TINY_RESNET,
    DeepMLP,
    MLPConfig,
    ResNet,
    ResNetConfig,
    count_parameters,
    randomise_batchnorm_,
)

# He et al. 2015, Table 6: ResNet-20 0.27M, -32 0.46M, -44 0.66M, -56 0.85M, -110 1.7M parameters
# (CIFAR-10, 3 input channels).
PAPER_PARAMS = {20: 0.27e6, 32: 0.46e6, 44: 0.66e6, 56: 0.85e6, 110: 1.7e6}


@pytest.mark.parametrize("depth", sorted(PAPER_PARAMS))
def test_parameter_counts_match_the_paper(depth):
    n = count_parameters(ResNet(ResNetConfig(depth=depth, in_channels=3)))
    assert abs(n - PAPER_PARAMS[depth]) / PAPER_PARAMS[depth] < 0.02, n


@pytest.mark.parametrize("shape, in_channels", [((2, 1, 28, 28), 1), ((2, 3, 32, 32), 3)])
@pytest.mark.parametrize("shortcut", [True, False])
def test_resnet_forward_shapes(shape, in_channels, shortcut):
    model = ResNet(ResNetConfig(depth=8, in_channels=in_channels, shortcut=shortcut))
    assert model(torch.randn(*shape)).shape == (2, 10)


def test_layer_count_is_6n_plus_2():
    for depth in (8, 20, 56):
        model = ResNet(ResNetConfig(depth=depth, shortcut=False))
        weighted = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
        assert len(weighted) == depth
        assert len(list(model.blocks)) == 3 * (depth - 2) // 6


def test_plain_net_has_no_shortcut_modules():
    model = ResNet(ResNetConfig(depth=20, shortcut=False))
    assert all(isinstance(b.shortcut, torch.nn.Identity) for b in model.blocks)
    assert count_parameters(model) < count_parameters(ResNet(ResNetConfig(depth=20)))


def test_zero_init_residual_makes_blocks_start_at_identity_branch():
    model = ResNet(ResNetConfig(depth=8, zero_init_residual=True)).eval()
    block = model.blocks[0]
    x = torch.randn(2, 16, 7, 7)
    assert torch.count_nonzero(block.residual(x)) == 0


@pytest.mark.parametrize("depth", [7, 21, 0])
def test_bad_depth_says_6n_plus_2(depth):
    with pytest.raises(ValueError, match="6n"):
        ResNetConfig(depth=depth)


def test_wrong_image_shape_is_explained():
    with pytest.raises(ValueError, match="unsqueeze"):
        ResNet()(torch.randn(2, 28, 28))


@pytest.mark.parametrize("shortcut_scale", [0.0, 1.0])
@pytest.mark.parametrize("norm", ["none", "batch", "layer"])
def test_mlp_shapes_and_depth(shortcut_scale, norm):
    model = DeepMLP(MLPConfig(depth=5, width=16, shortcut_scale=shortcut_scale, norm=norm))
    assert len(model.blocks) == 5
    assert model(torch.randn(4, 1, 28, 28)).shape == (4, 10)


def test_mlp_block_is_scaled_x_plus_branch():
    model = DeepMLP(MLPConfig(depth=1, width=8, shortcut_scale=0.5, in_features=8))
    block = model.blocks[0]
    x = torch.randn(3, 8)
    torch.testing.assert_close(block(x), 0.5 * x + torch.relu(block.linear(x)))


def test_mlp_plain_block_has_no_identity_path():
    model = DeepMLP(MLPConfig(depth=1, width=8, shortcut_scale=0.0, in_features=8, activation="linear"))
    block = model.blocks[0]
    x = torch.randn(3, 8)
    torch.testing.assert_close(block(x), block.linear(x))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(depth=0), "depth"),
        (dict(shortcut_scale=1.5), "shortcut_scale"),
        (dict(activation="gelu"), "activation"),
        (dict(norm="group"), "norm"),
        (dict(init="orthogonal"), "init"),
    ],
)
def test_mlp_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLPConfig(**kwargs)


def test_mlp_wrong_input_size_is_explained():
    with pytest.raises(ValueError, match="in_features"):
        DeepMLP(MLPConfig(depth=2, width=8))(torch.randn(2, 100))


def test_stem_pool_is_the_imagenet_max_pool_after_the_stem():
    torch.manual_seed(0)
    model = ResNet(ResNetConfig(depth=8, stem_pool=True)).eval()
    x = torch.randn(4, 1, 28, 28)
    # Oracle: He et al. Table 1's "3x3 max pool, stride 2", applied to the stem conv's output, then BN-ReLU.
    expected = F.relu(model.bn1(F.max_pool2d(model.conv1(x), kernel_size=3, stride=2, padding=1)))
    assert torch.equal(model.stem(x), expected)
    assert model.stem(x).shape == (4, 16, 14, 14)
    assert model.layer3(model.layer2(model.layer1(model.stem(x)))).shape == (4, 64, 4, 4)
    assert model(x).shape == (4, 10)


def test_stem_pool_adds_no_parameters_and_loads_the_same_weights():
    plain_stem = ResNet(ResNetConfig(depth=8))
    pooled = ResNet(ResNetConfig(depth=8, stem_pool=True))
    assert count_parameters(pooled) == count_parameters(plain_stem)
    pooled.load_state_dict(plain_stem.state_dict())  # strict: the same parameter and buffer names


def test_tiny_resnet_is_resnet8_with_the_pooled_stem():
    assert TINY_RESNET == ResNetConfig(depth=8, widths=(16, 32, 64), stem_pool=True)


def test_bad_stem_pool_is_explained():
    with pytest.raises(ValueError, match="stem_pool must be True or False"):
        ResNetConfig(stem_pool="yes")


def test_both_nets_have_stem_blocks_and_head_of_the_same_kind():
    # Code that walks a net (gradients, paths, the explorer) treats both alike: stem(x), blocks[i], head(h).
    x = torch.randn(2, 1, 28, 28)
    for model in (ResNet(ResNetConfig(depth=8)), DeepMLP(MLPConfig(depth=3, width=8))):
        h = model.stem(x if isinstance(model, ResNet) else x.flatten(1))
        for block in model.blocks:
            h = block(h)
        assert len(model.blocks) == 3
        torch.testing.assert_close(model.head(h), model(x))
    # ResNet's blocks are its stages' modules: the parameter names (checkpoint keys) are unchanged.
    assert "layer1.0.conv1.weight" in ResNet(ResNetConfig(depth=8)).state_dict()


def test_randomise_batchnorm_makes_a_fresh_net_look_trained():
    model = ResNet(ResNetConfig(depth=8, widths=(4, 4, 4)))
    assert randomise_batchnorm_(model, torch.Generator().manual_seed(0)) is model
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:  # away from init's (0, 1, 1, 0), inside the documented ranges
        assert (bn.running_var >= 0.5).all() and (bn.running_var <= 2.0).all()
        assert bn.running_mean.abs().max() <= 0.5 and not torch.equal(bn.weight, torch.ones_like(bn.weight))


def test_randomise_batchnorm_draws_beta_too():
    model = randomise_batchnorm_(ResNet(ResNetConfig(depth=8, widths=(4, 4, 4))), torch.Generator().manual_seed(0))
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        assert torch.count_nonzero(bn.bias) == bn.num_features  # init's beta is 0
        assert bn.bias.abs().max() <= 0.3  # the documented range


def _std_close(w: torch.Tensor, expected: float, rel: float) -> bool:
    return abs(float(w.detach().std()) / expected - 1) < rel


def test_convs_are_he_initialised_by_fan_out():
    torch.manual_seed(0)
    model = ResNet(ResNetConfig(depth=8))
    # oracle: He et al.'s std sqrt(2 / fan), fan_out = out_channels * k * k; these layers change the
    # channel count, so fan_in's std differs by sqrt(2) (or 4x for the stem) and would be refused.
    for conv, rel in ((model.layer2[0].conv1, 0.08), (model.layer3[0].conv1, 0.05), (model.conv1, 0.25)):
        out, inp, kh, kw = conv.weight.shape
        assert _std_close(conv.weight, (2 / (out * kh * kw)) ** 0.5, rel), conv
        assert not _std_close(conv.weight, (2 / (inp * kh * kw)) ** 0.5, rel), conv


@pytest.mark.parametrize("activation, gain", [("relu", 2.0), ("tanh", 1.0)])
def test_mlp_kaiming_init_is_by_fan_in_with_the_relu_gain_only_for_relu(activation, gain):
    torch.manual_seed(0)
    model = DeepMLP(MLPConfig(depth=1, width=256, init="kaiming", activation=activation))
    # oracle: std sqrt(gain / fan_in): 2 for ReLU (He et al. 2015), 1 for a linear-like layer
    assert _std_close(model.stem.weight, (gain / 784) ** 0.5, 0.03)
    assert _std_close(model.blocks[0].linear.weight, (gain / 256) ** 0.5, 0.03)
    assert torch.count_nonzero(model.stem.bias) == 0


def test_mlp_small_init_is_std_one_hundredth_and_zero_bias():
    torch.manual_seed(0)
    model = DeepMLP(MLPConfig(depth=2, width=128, init="small"))
    for m in (model.stem, *(b.linear for b in model.blocks)):
        assert _std_close(m.weight, 0.01, 0.05) and abs(float(m.weight.detach().mean())) < 1e-3
        assert torch.count_nonzero(m.bias) == 0


@pytest.mark.parametrize("norm, cls", [("batch", torch.nn.BatchNorm1d), ("layer", torch.nn.LayerNorm)])
def test_mlp_norm_names_its_layer(norm, cls):
    model = DeepMLP(MLPConfig(depth=2, width=8, norm=norm))
    assert all(type(b.norm) is cls for b in model.blocks)


def test_depth_limits_are_6n_plus_2_from_8_to_max_depth():
    with pytest.raises(ValueError, match="6n"):
        ResNetConfig(depth=2)  # n = 0: no blocks at all
    assert MAX_DEPTH % 6 == 2 and ResNetConfig(depth=MAX_DEPTH).depth == MAX_DEPTH  # only a config: cheap
    with pytest.raises(ValueError, match=f"at most {MAX_DEPTH}"):
        ResNetConfig(depth=MAX_DEPTH + 6)


def test_zero_init_residual_leaves_a_plain_net_alone():
    # With no shortcut, a zeroed branch would make the whole net output a constant: the option is ignored.
    model = ResNet(ResNetConfig(depth=8, shortcut=False, zero_init_residual=True))
    for b in model.blocks:
        assert torch.equal(b.bn2.weight, torch.ones_like(b.bn2.weight))  # BN's initial gamma
    x = torch.randn(2, 1, 28, 28)
    assert model.eval()(x).std(0).max() > 0  # the output depends on the input


def test_preact_stem_is_the_conv_alone():
    # He et al. 2016: a pre-activation block starts with its own BN-ReLU, so the stem adds none.
    model = ResNet(ResNetConfig(depth=8, block="preact")).eval()
    x = torch.randn(2, 1, 28, 28)
    expected = model.conv1(x)
    assert (expected < 0).any()
    torch.testing.assert_close(model.stem(x), expected)
