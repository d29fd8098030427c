"""Exercises for notebook 05, "Ensembles of paths": ``from resblock.exercises import nb05 as ex``.

q1 count the paths of each length through n blocks; q2 delete a residual block's branch at test
time. Each checker runs the answer on cases it builds itself and names the mistake it looks like.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from resblock.blocks import ResidualBlock
from resblock.exercises import Mistake, Question


# --- q1: how many paths of each length ------------------------------------------------------------


def check_count_paths(count_paths: Any) -> str:
    """Checker for q1: ``count_paths(n)`` must return [C(n, 0), ..., C(n, n)]."""
    if not callable(count_paths):
        raise Mistake(f"pass your function itself (`count_paths`), got {type(count_paths).__name__}.")
    for n in range(0, 11):
        got = count_paths(n)
        if isinstance(got, (int, float)) and not isinstance(got, bool):
            if got == 2**n:
                raise Mistake(f"count_paths({n}) returned {got} = 2^{n}, the total number of paths; "
                              "return a list with one count per path length k = 0..n.")
            raise Mistake(f"count_paths({n}) returned the number {got}; return a list of n + 1 counts.")
        try:
            got = [x for x in got]
        except TypeError:
            raise Mistake(f"count_paths({n}) returned {type(got).__name__}; return a list of n + 1 counts.") from None
        want = [math.comb(n, k) for k in range(n + 1)]
        if len(got) != n + 1:
            raise Mistake(f"count_paths({n}) has {len(got)} entries; paths through n = {n} blocks have lengths "
                          f"0 to {n}, which is n + 1 = {n + 1} lengths (do not forget length 0, all shortcuts).")
        if n >= 1 and abs(sum(got) - 1.0) < 1e-9 and sum(got) != 2**n:
            raise Mistake(f"count_paths({n}) sums to 1: those are fractions of paths; return the counts (they sum to 2^n).")
        if any(g != w for g, w in zip(got, want)):
            raise Mistake(f"count_paths({n}) = {got}, expected {want}: a path of length k chooses which k "
                          "of the n blocks it passes through a branch.")
    return "a path of length k picks k of the n blocks: C(n, k) paths, 2^n in all."


q1 = Question(
    "Q1 · counting paths",
    "Write `count_paths(n)` returning a list whose entry k is the number of paths through n residual "
    "blocks that pass through exactly k residual branches (k = 0..n). Check it with `ex.q1.check(count_paths)`.",
    check_count_paths,
    "Each block offers two roads: the shortcut or the branch. A path of length k is a choice of which k "
    "blocks use the branch. `math.comb(n, k)` counts such choices.",
    "```python\nimport math\n\ndef count_paths(n):\n    return [math.comb(n, k) for k in range(n + 1)]\n```",
)


# --- q2: delete a block's branch --------------------------------------------------------------------


def _block(in_planes: int, planes: int, stride: int, seed: int) -> ResidualBlock:
    torch.manual_seed(seed)
    b = ResidualBlock(in_planes, planes, stride)
    for m in b.modules():  # statistics and affine parameters as a trained block has them
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.3, 0.3)
    return b.eval()


def check_delete_branch(delete_branch: Any) -> str:
    """Checker for q2: ``delete_branch(block)`` must return a module computing relu(shortcut(x)), leaving ``block`` alone."""
    if not callable(delete_branch):
        raise Mistake(f"pass your function itself (`delete_branch`), got {type(delete_branch).__name__}.")
    for cfg, what in (((8, 8, 1), "an identity-shortcut block"), ((8, 16, 2), "a downsampling block (projection shortcut)")):
        block = _block(*cfg, seed=sum(cfg))
        before = {k: v.clone() for k, v in block.state_dict().items()}
        x = F.relu(torch.randn(2, cfg[0], 6, 6, generator=torch.Generator().manual_seed(1)))  # blocks see post-ReLU inputs
        with torch.no_grad():
            want = F.relu(block.shortcut(x))
            branch_only = F.relu(block.residual(x))
            intact = block(x)
        new = delete_branch(block)
        if not callable(new):
            raise Mistake(f"delete_branch should return a module (something callable), got {type(new).__name__}.")
        with torch.no_grad():
            got = new(x)
        if any(not torch.equal(v, before[k]) for k, v in block.state_dict().items()):
            raise Mistake("you changed the block itself (e.g. zeroed its BN in place); a lesion at test time must "
                          "leave the trained net intact: return a new module that uses block.shortcut.")
        if not isinstance(got, torch.Tensor):
            raise Mistake(f"the returned module gave {type(got).__name__}, expected a tensor.")
        if got.shape != want.shape:
            raise Mistake(f"on {what} the output has shape {tuple(got.shape)}, expected {tuple(want.shape)}: "
                          "the identity does not fit a block that strides or widens; use the block's own "
                          "`block.shortcut` (a projection there).")
        if torch.allclose(got, want, atol=1e-5):
            continue
        if torch.allclose(got, branch_only, atol=1e-5):
            raise Mistake("you kept the branch and deleted the shortcut: that leaves R(x), the plain net's "
                          "only path. Delete R(x) and keep relu(shortcut(x)).")
        if torch.allclose(got, intact, atol=1e-5):
            raise Mistake(f"the module computes the whole block on {what}: nothing was deleted.")
        if torch.count_nonzero(got) == 0:
            raise Mistake("the output is all zeros: you deleted the whole block, shortcut included.")
        with torch.no_grad():
            no_relu = block.shortcut(x)
        if torch.allclose(got, no_relu, atol=1e-5):  # only tells on a projection, whose output can be negative
            raise Mistake("missing the ReLU after the addition: the block ends in relu(R(x) + shortcut(x)).")
        raise Mistake(f"on {what} the output differs from relu(block.shortcut(x)), the block with R(x) deleted.")
    return "the shortcut carries the signal on, whether it is the identity or a projection."


_Q2_SOLUTION = """```python
import torch.nn.functional as F
from torch import nn

class WithoutBranch(nn.Module):
    def __init__(self, block):
        super().__init__()
        self.shortcut = block.shortcut  # shared, not copied: nothing in the block changes

    def forward(self, x):
        return F.relu(self.shortcut(x))  # relu(R(x) + shortcut(x)) with R deleted

def delete_branch(block):
    return WithoutBranch(block)
```
The package's version is `resblock.paths.BranchRemoved`."""

q2 = Question(
    "Q2 · a lesion",
    "Write `delete_branch(block)`, returning a module that computes a `ResidualBlock` with its residual "
    "branch R deleted (only the shortcut path remains). It must work for a downsampling block too, and "
    "leave `block` unchanged. Check it with `ex.q2.check(delete_branch)`.",
    check_delete_branch,
    "The block computes relu(R(x) + shortcut(x)). What is left when R is gone? `block.shortcut` is the "
    "identity in most blocks and a 1x1 projection where the block strides.",
    _Q2_SOLUTION,
)
