"""resnet_summary: the notebook-04 table of parts, output shapes and parameters, against hand-computed values."""

import pytest
import torch
from torch import nn

from resblock.models import TINY_RESNET, DeepMLP, ResNet, ResNetConfig, count_parameters
from resblock.summary import format_summary, resnet_summary


@pytest.fixture
def resnet8() -> ResNet:
    torch.manual_seed(0)
    return ResNet(ResNetConfig(depth=8))


def test_shapes_follow_the_paper_stage_by_stage(resnet8):
    shapes = {r.name: r.output_shape for r in resnet_summary(resnet8)}
    # He et al. sec. 4.2: 16, 32, 64 channels; stride 2 halves the map at stages 2 and 3 (28 -> 14 -> 7).
    assert shapes["conv1"] == (16, 28, 28)
    assert shapes["layer1.0"] == (16, 28, 28)
    assert shapes["layer2.0"] == shapes["layer2.0.shortcut"] == (32, 14, 14)
    assert shapes["layer3.0"] == shapes["layer3.0.shortcut"] == (64, 7, 7)
    assert shapes["(pool)"] == (64,)
    assert shapes["fc"] == (10,)


def test_parameter_counts_add_up_to_the_model(resnet8):
    rows = resnet_summary(resnet8)
    by_name = {r.name: r.parameters for r in rows}
    assert by_name["conv1"] == 1 * 16 * 9  # a 3x3 conv, no bias
    assert by_name["bn1"] == 2 * 16  # gamma and beta
    assert by_name["layer1.0"] == 2 * (16 * 16 * 9 + 2 * 16)  # two conv-BN pairs, identity shortcut
    assert by_name["layer2.0.shortcut"] == 16 * 32 + 2 * 32  # 1x1 projection + its BN
    assert by_name["fc"] == 64 * 10 + 10
    # A projection is counted inside its block: the "of which" rows must not be added twice.
    top_level = sum(r.parameters for r in rows if not r.kind.lstrip().startswith("of which"))
    assert top_level == count_parameters(resnet8)


def test_stride_is_named_and_mode_is_kept(resnet8):
    resnet8.train()
    kinds = {r.name: r.kind for r in resnet_summary(resnet8)}
    assert "stride 2" in kinds["layer2.0"] and "stride" not in kinds["layer1.0"]
    assert resnet8.training, "the summary must restore training mode"
    resnet8.eval()
    resnet_summary(resnet8)
    assert not resnet8.training


def test_cifar_input_shape():
    model = ResNet(ResNetConfig(depth=8, in_channels=3))
    shapes = {r.name: r.output_shape for r in resnet_summary(model, input_shape=(3, 32, 32))}
    assert shapes["layer3.0"] == (64, 8, 8)


def test_format_has_every_row_and_the_total(resnet8):
    rows = resnet_summary(resnet8)
    text = format_summary(rows, total=count_parameters(resnet8))
    lines = text.splitlines()
    assert len(lines) == len(rows) + 4  # header, rule, rows, rule, total
    assert lines[-1].split()[-1] == f"{count_parameters(resnet8):,d}"
    assert "32 x 14 x 14" in text


def test_bad_input_says_what_to_pass(resnet8):
    with pytest.raises(ValueError, match="expects a resblock.models.ResNet"):
        resnet_summary(DeepMLP())
    with pytest.raises(ValueError, match=r"\(channels, height, width\)"):
        resnet_summary(resnet8, input_shape=(28, 28))
    with pytest.raises(ValueError, match="expected images of shape"):
        resnet_summary(resnet8, input_shape=(3, 28, 28))
    assert isinstance(resnet8.conv1, nn.Conv2d)


def test_pooled_stem_has_its_own_row_and_halves_every_stage():
    model = ResNet(TINY_RESNET)
    rows = resnet_summary(model)
    shapes = {r.name: r.output_shape for r in rows}
    assert [r.name for r in rows[:3]] == ["conv1", "pool", "bn1"]
    assert "max pool" in rows[1].kind and rows[1].parameters == 0
    assert shapes["conv1"] == (16, 28, 28) and shapes["pool"] == shapes["bn1"] == (16, 14, 14)
    assert shapes["layer1.0"] == (16, 14, 14) and shapes["layer2.0"] == (32, 7, 7) and shapes["layer3.0"] == (64, 4, 4)


@pytest.mark.parametrize("block, depth", [("preact", 8), ("bottleneck", 11)])
def test_every_block_design_is_summarised(block, depth):
    # A pre-activation net has no stem BN and a final BN-ReLU; a bottleneck strides in its 3x3 (conv2).
    torch.manual_seed(0)
    model = ResNet(ResNetConfig(depth=depth, block=block))
    rows = resnet_summary(model)
    by_name = {r.name: r for r in rows}
    top_level = sum(r.parameters for r in rows if not r.kind.lstrip().startswith("of which"))
    assert top_level == count_parameters(model)
    assert "stride 2" in by_name["layer2.0"].kind and "stride" not in by_name["layer1.0"].kind
    e = 4 if block == "bottleneck" else 1
    assert by_name["layer3.0"].output_shape == (64 * e, 7, 7) and by_name["fc"].output_shape == (10,)
    if block == "preact":
        assert "bn1" not in by_name and by_name["final_act"].parameters == 2 * 64
        assert [r.name for r in rows][-3:] == ["final_act", "(pool)", "fc"]
    else:
        assert "final_act" not in by_name and by_name["bn1"].parameters == 2 * 16
