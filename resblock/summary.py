"""A ResNet's anatomy as a table: each part, its output shape and its parameters (notebook 04)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from resblock.checks import short_repr
from resblock.models import count_parameters
from resblock.train import eval_mode


@dataclass(frozen=True)
class LayerRow:
    """One line of the summary."""

    name: str  # the attribute path in the model, e.g. "layer2.0.shortcut"
    kind: str  # what the part is, in the field's words
    output_shape: tuple[int, ...]  # without the batch axis: (channels, height, width) or (features,)
    parameters: int  # trainable parameters in this part (a block's include its shortcut's)


def resnet_summary(model: nn.Module, input_shape: tuple[int, int, int] = (1, 28, 28)) -> list[LayerRow]:
    """Stem, every block (and its projection shortcut), pooling and head of a ``resblock.models.ResNet``."""
    if not all(hasattr(model, a) for a in ("conv1", "bn1", "fc", "blocks")):
        raise ValueError("resnet_summary expects a resblock.models.ResNet (stem conv1/bn1, blocks, head fc).")
    if (
        not isinstance(input_shape, (tuple, list))
        or len(input_shape) != 3
        or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in input_shape)
    ):
        raise ValueError(f"input_shape is (channels, height, width) of one image, got {short_repr(input_shape)}.")
    parts: list[tuple[str, str, nn.Module]] = [("conv1", "stem: 3x3 conv", model.conv1)]
    if not isinstance(getattr(model, "pool", nn.Identity()), nn.Identity):
        parts.append(("pool", "stem: 3x3 max pool, stride 2", model.pool))
    if not isinstance(model.bn1, nn.Identity):  # a pre-activation net's stem is the conv alone
        parts.append(("bn1", "stem: BN + ReLU", model.bn1))
    names = {m: n for n, m in model.named_modules()}
    for block in model.blocks:
        # The basic block strides in its first conv, a bottleneck in its 3x3 (the second): the largest stride.
        stride = max(m.stride[0] for m in block.modules() if isinstance(m, nn.Conv2d))
        label = f"{type(block).__name__}" + (f", stride {stride}" if stride != 1 else "")
        parts.append((names[block], label, block))
        if not isinstance(block.shortcut, nn.Identity):
            parts.append((names[block.shortcut], "  of which: 1x1 projection shortcut", block.shortcut))
    if not isinstance(getattr(model, "final_act", nn.Identity()), nn.Identity):
        parts.append(("final_act", "head: BN + ReLU after the last block", model.final_act))
    parts.append(("fc", "head: linear", model.fc))
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [
        m.register_forward_hook(lambda m, i, o, n=n: shapes.__setitem__(n, tuple(o.shape[1:]))) for n, _, m in parts
    ]
    hooks.append(model.fc.register_forward_hook(lambda m, i, o: shapes.__setitem__("(pool)", tuple(i[0].shape[1:]))))
    try:
        with eval_mode(model), torch.no_grad():
            device = next(model.parameters()).device
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        for h in hooks:
            h.remove()
    rows = [LayerRow(n, k, shapes[n], count_parameters(m)) for n, k, m in parts[:-1]]
    rows.append(LayerRow("(pool)", "global average pool", shapes["(pool)"], 0))
    rows.append(LayerRow("fc", parts[-1][1], shapes["fc"], count_parameters(model.fc)))
    return rows


def format_summary(rows: list[LayerRow], total: int | None = None) -> str:
    """The rows as a fixed-width text table, with the total parameter count at the bottom."""
    lines = [f"{'part':20s} {'what':38s} {'output shape':>14s} {'parameters':>11s}"]
    lines.append("-" * len(lines[0]))
    for r in rows:
        shape = " x ".join(str(s) for s in r.output_shape)
        lines.append(f"{r.name:20s} {r.kind:38s} {shape:>14s} {r.parameters:>11,d}")
    lines.append("-" * len(lines[0]))
    if total is not None:
        lines.append(f"{'total':20s} {'':38s} {'':>14s} {total:>11,d}")
    return "\n".join(lines)
