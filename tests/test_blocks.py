"""ResidualBlock and PlainBlock against their definitions (He et al. 2015, Fig. 2)."""

import pytest
import torch
import torch.nn.functional as F

from resblock.blocks import BasicBlock, Bottleneck, PlainBlock, PreActBlock, ResidualBlock, needs_projection


@pytest.mark.parametrize(
    "in_planes, planes, stride, hw_out",
    [(16, 16, 1, 8), (16, 32, 2, 4), (16, 32, 1, 8), (16, 16, 2, 4), (3, 8, 1, 8)],
)
@pytest.mark.parametrize("block_cls", [ResidualBlock, PlainBlock])
def test_output_shape(block_cls, in_planes, planes, stride, hw_out):
    block = block_cls(in_planes, planes, stride)
    y = block(torch.randn(2, in_planes, 8, 8))
    assert y.shape == (2, planes, hw_out, hw_out)


def test_odd_input_size_with_stride_two():
    # 7x7 -> 4x4: the 3x3 conv (padding 1) and the 1x1 projection must agree on odd sizes.
    y = ResidualBlock(16, 32, stride=2)(torch.randn(2, 16, 7, 7))
    assert y.shape == (2, 32, 4, 4)


@pytest.mark.parametrize(
    "in_planes, planes, stride, expected",
    [
        (16, 16, 1, False),
        (16, 32, 1, True),
        (16, 16, 2, True),
        (16, 32, 2, True),
    ],
)
def test_projection_exactly_when_needed(in_planes, planes, stride, expected):
    block = ResidualBlock(in_planes, planes, stride)
    has_projection = not isinstance(block.shortcut, torch.nn.Identity)
    assert has_projection is expected is needs_projection(in_planes, planes, stride)


def _zero_branch(block):
    torch.nn.init.zeros_(block.bn2.weight)
    torch.nn.init.zeros_(block.bn2.bias)


@pytest.mark.parametrize("in_planes, planes, stride", [(8, 8, 1), (8, 16, 2)])
def test_zeroed_branch_gives_relu_of_shortcut(in_planes, planes, stride):
    block = ResidualBlock(in_planes, planes, stride).eval()
    _zero_branch(block)
    x = torch.randn(3, in_planes, 6, 6)
    torch.testing.assert_close(block(x), F.relu(block.shortcut(x)))
    if stride == 1 and in_planes == planes:
        torch.testing.assert_close(block(x), F.relu(x))  # the identity block, exactly


def test_forward_is_relu_of_branch_plus_input():
    block = ResidualBlock(8, 8).eval()
    x = torch.randn(2, 8, 5, 5)
    torch.testing.assert_close(block(x), F.relu(block.residual(x) + x))


def test_plain_block_has_no_shortcut_and_ignores_input_path():
    plain = PlainBlock(8, 8).eval()
    _zero_branch(plain)
    assert torch.count_nonzero(plain(torch.randn(2, 8, 5, 5))) == 0


@pytest.mark.parametrize("in_planes, planes, stride", [(8, 8, 1), (8, 16, 2)])
def test_twins_share_parameters_except_projection(in_planes, planes, stride):
    res, plain = ResidualBlock(in_planes, planes, stride), PlainBlock(in_planes, planes, stride)
    res_names = {n: p.shape for n, p in res.named_parameters() if not n.startswith("shortcut.")}
    assert res_names == {n: p.shape for n, p in plain.named_parameters()}
    assert list(plain.named_parameters()) and not any(n.startswith("shortcut.") for n, _ in plain.named_parameters())


def test_shortcut_scale_blends_plain_and_residual():
    block = ResidualBlock(4, 4, shortcut_scale=0.5).eval()
    x = torch.randn(1, 4, 3, 3)
    torch.testing.assert_close(block(x), F.relu(block.residual(x) + 0.5 * x))


def test_input_not_modified():
    x = torch.randn(2, 8, 4, 4)
    before = x.clone()
    ResidualBlock(8, 8)(x)
    assert torch.equal(x, before)


def test_gradient_reaches_input_through_shortcut():
    block = ResidualBlock(4, 4).eval()
    _zero_branch(block)
    x = torch.rand(1, 4, 3, 3) + 0.1  # positive, so relu passes everything
    x.requires_grad_(True)
    block(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.ones_like(x))  # dH/dx = I + dR/dx, with dR/dx = 0 here


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(in_planes=0, planes=8), "in_planes"),
        (dict(in_planes=8, planes=-1), "planes"),
        (dict(in_planes=8, planes=8, stride=0), "stride"),
        (dict(in_planes=8, planes=8, stride=1.5), "stride"),
        (dict(in_planes=8, planes=8, shortcut_scale=2.0), "shortcut_scale"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResidualBlock(**kwargs)


def test_residual_and_plain_blocks_are_one_basic_block_with_a_shortcut_switch():
    # One family: callers ask block.has_shortcut, never which class it is.
    res, plain = ResidualBlock(8, 16, stride=2), PlainBlock(8, 16, stride=2)
    assert isinstance(res, BasicBlock) and isinstance(plain, BasicBlock)
    assert res.has_shortcut and not plain.has_shortcut
    assert not isinstance(plain, ResidualBlock)  # a plain block is not a residual one
    # The same parameter names as before the split, so the committed checkpoints still load.
    assert set(BasicBlock(8, 16, 2, shortcut=True).state_dict()) == set(res.state_dict())
    assert set(BasicBlock(8, 16, 2, shortcut=False).state_dict()) == set(plain.state_dict())
    with pytest.raises(ValueError, match="shortcut must be True"):
        BasicBlock(8, 8, shortcut="no")


def test_plain_block_is_relu_of_its_branch():
    plain = PlainBlock(8, 8).eval()
    x = torch.randn(2, 8, 5, 5)
    r = plain.residual(x)
    assert (r < 0).any()  # so the ReLU has something to cut
    torch.testing.assert_close(plain(x), F.relu(r))  # H(x) = relu(R(x)), nothing added
    assert plain.shortcut_scale == 0.0  # the plain twin's shortcut weighs nothing


@pytest.mark.parametrize(
    "block, zeroed",
    [
        (ResidualBlock(8, 8), "bn2.weight"),  # the BN at the end of the branch (Goyal et al.)
        (PreActBlock(8, 8), "conv2.weight"),  # no BN at the end: the last conv
        (Bottleneck(16, 4), "bn3.weight"),  # the third BN, as torchvision's zero_init_residual
    ],
    ids=["basic", "preact", "bottleneck"],
)
def test_zero_init_branch_zeroes_only_the_branchs_last_layer(block, zeroed):
    with torch.no_grad():  # make every parameter nonzero, so that a zeroed one shows
        for p in block.parameters():
            p.uniform_(0.5, 1.5)
    before = {n: p.detach().clone() for n, p in block.named_parameters()}
    block.zero_init_branch_()
    for name, p in block.named_parameters():
        if name == zeroed:
            assert torch.count_nonzero(p) == 0, name
        else:
            assert torch.equal(p, before[name]), f"{name} changed"
    # and so the block starts as its shortcut (BN's shift is 0 at init for the last BN's output)
    with torch.no_grad():
        for name, p in block.named_parameters():
            if name.endswith("bias"):
                p.zero_()
    x = torch.randn(2, block.conv1.in_channels, 5, 5)
    expected = x if isinstance(block, PreActBlock) else F.relu(x)
    torch.testing.assert_close(block.eval()(x), expected)
