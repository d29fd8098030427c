"""Exercises for notebook 05, "Ensembles of paths": ``from resblock.exercises import nb05 as ex``.

q1 predict what the binomial count of paths means for Veit et al.'s two findings (how few paths
are short; how many survive a lesion); q2 delete a residual block's branch at test time. Each checker runs the answer on cases it builds itself and names the mistake it looks like.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from resblock.blocks import ResidualBlock
from resblock.checks import short_repr
from resblock.exercises import Mistake, Question, answer_dict
from resblock.models import randomise_batchnorm_

# --- q1: predict, from the binomial count, what Veit et al.'s two findings mean -----------------------

# Veit et al. (2016, sec. 5): in their ResNet-110 (n = 54 blocks) almost all of the gradient came from
# paths through 5 to 17 blocks; their lesion study deleted up to 20 blocks of the same net.
N_BLOCKS, SHORT = 54, (5, 17)
DELETED = 10
SHARE_CHOICES = ("most", "about a tenth", "under 1%")
SURVIVE_CHOICES = ("about half", "about a tenth", "about a thousandth")


def short_path_share(n: int = N_BLOCKS, lo: int = SHORT[0], hi: int = SHORT[1]) -> float:
    """Fraction of the 2^n paths whose length (number of branches taken) lies in lo..hi."""
    return sum(math.comb(n, k) for k in range(lo, hi + 1)) / 2**n


def surviving_share(n: int = N_BLOCKS, deleted: int = DELETED) -> float:
    """Fraction of the 2^n paths left after deleting ``deleted`` branches: those that take none of them."""
    return 2 ** (n - deleted) / 2**n


def _pick(value: float, choices: tuple[str, ...], edges: tuple[float, float]) -> str:
    """The choice a measured fraction falls in: above edges[0] -> choices[0], above edges[1] -> [1], else [2]."""
    return choices[0] if value > edges[0] else choices[1] if value > edges[1] else choices[2]


def answers() -> dict[str, str]:
    """The right choices, computed from the binomial counts (not typed in)."""
    return {
        "share": _pick(short_path_share(), SHARE_CHOICES, (0.3, 0.03)),
        "survive": _pick(surviving_share(), SURVIVE_CHOICES, (0.3, 0.03)),
    }


WHY_Q1 = {
    "share": (
        "The lengths of the 2^54 paths are binomial, with mean n/2 = 27 and standard deviation "
        "sqrt(54)/2, about 3.7. Lengths 5 to 17 all lie 2.7 or more standard deviations below the "
        "mean: a thin tail. Sum math.comb(54, k) for k = 5..17 and divide by 2**54."
    ),
    "survive": (
        "A path survives only if it takes the shortcut, not the branch, in every deleted block. "
        "Each deleted block halves the surviving paths, so 10 deletions leave 1/2^10 of them."
    ),
}


def check_path_predictions(answer: Any) -> str:
    """Checker for q1: a dict {"share": ..., "survive": ...}, one of the listed choices each."""
    answer = answer_dict(answer, ("share", "survive"), "{'share': 'most', 'survive': 'about half'}", "prediction")
    truth = answers()
    for key, choices in (("share", SHARE_CHOICES), ("survive", SURVIVE_CHOICES)):
        value = answer[key]
        if not isinstance(value, str) or value.strip().lower() not in choices:
            raise Mistake(f"{key}: answer one of {', '.join(repr(c) for c in choices)}, got {short_repr(value)}.")
        if value.strip().lower() != truth[key]:
            raise Mistake(f"{key}: not {value.strip()!r}. {WHY_Q1[key]}")
    return (
        f"paths of length 5 to 17 are {short_path_share():.2%} of all paths, yet they carry almost all "
        f"of the gradient; and after {DELETED} deletions only 1 path in {2**DELETED} is left, yet Veit et "
        "al.'s net lost accuracy smoothly as blocks went, without collapsing. Both say the same thing: the net does not need "
        "most of its paths, and the long ones least of all."
    )


q1 = Question(
    "Q1 · what the binomial count predicts",
    "Veit et al.'s ResNet-110 has n = 54 residual blocks, so 2^54 paths. Predict, before computing anything:\n\n"
    f"- `share`: they found that almost all of the gradient comes from paths through 5 to 17 blocks. What "
    f"share of all 2^54 paths have such a length? One of {', '.join(repr(c) for c in SHARE_CHOICES)}.\n"
    f"- `survive`: their lesion study deletes blocks at random. After deleting {DELETED} blocks, what share "
    f"of the 2^54 paths is left intact? One of {', '.join(repr(c) for c in SURVIVE_CHOICES)}.\n\n"
    "Answer with a dict: `ex.q1.check({'share': '...', 'survive': '...'})`. The checker computes both.",
    check_path_predictions,
    "A path of length k takes the branch in k of the n blocks: math.comb(n, k) paths, mean length n/2. "
    "Where do lengths 5 to 17 sit in a binomial centred on 27? For `survive`: which paths does deleting one "
    "block remove?",
    lambda: (
        "```python\nex.q1.check(" + repr(answers()) + ")\n```\n\n"
        f"share: {short_path_share():.4f} of the paths ({WHY_Q1['share']}) survive: {surviving_share():.5f} "
        f"({WHY_Q1['survive']})"
    ),
)


# --- q2: delete a block's branch --------------------------------------------------------------------


def _block(in_planes: int, planes: int, stride: int, seed: int) -> ResidualBlock:
    torch.manual_seed(seed)
    b = ResidualBlock(in_planes, planes, stride)
    return randomise_batchnorm_(b).eval()  # statistics and affine parameters as a trained block has them


def check_delete_branch(delete_branch: Any) -> str:
    """Checker for q2: ``delete_branch(block)`` must return a module computing relu(shortcut(x)), leaving ``block`` alone."""
    if not callable(delete_branch):
        raise Mistake(f"pass your function itself (`delete_branch`), got {type(delete_branch).__name__}.")
    for cfg, what in (
        ((8, 8, 1), "an identity-shortcut block"),
        ((8, 16, 2), "a downsampling block (projection shortcut)"),
    ):
        block = _block(*cfg, seed=sum(cfg))
        before = {k: v.clone() for k, v in block.state_dict().items()}
        x = F.relu(
            torch.randn(2, cfg[0], 6, 6, generator=torch.Generator().manual_seed(1))
        )  # blocks see post-ReLU inputs
        with torch.no_grad():
            want = F.relu(block.shortcut(x))
            branch_only = F.relu(block.residual(x))
            intact = block(x)
        new = delete_branch(block)
        if not callable(new):
            raise Mistake(f"delete_branch should return a module (something callable), got {type(new).__name__}.")
        if isinstance(new, nn.Module) and new is not block:
            new.eval()  # a lesion is made at test time: a fresh BatchNorm inside must use its running statistics
        with torch.no_grad():
            got = new(x)
        with torch.no_grad():
            # A replaced attribute (block.residual = lambda x: 0, block.forward = ...) changes what the
            # block computes without touching its weights.
            same_block = torch.equal(block(x), intact)
        if not same_block or any(not torch.equal(v, before[k]) for k, v in block.state_dict().items()):
            raise Mistake(
                "you changed the block itself (zeroed its BN in place, or replaced its `residual` or "
                "`forward`); a lesion at test time must leave the trained net intact: return a new "
                "module that uses block.shortcut."
            )
        if not isinstance(got, torch.Tensor):
            raise Mistake(f"the returned module gave {type(got).__name__}, expected a tensor.")
        if got.shape != want.shape:
            raise Mistake(
                f"on {what} the output has shape {tuple(got.shape)}, expected {tuple(want.shape)}: "
                "the identity does not fit a block that strides or widens; use the block's own "
                "`block.shortcut` (a projection there)."
            )
        if torch.allclose(got, want, atol=1e-5):
            continue
        if torch.allclose(got, branch_only, atol=1e-5):
            raise Mistake(
                "you kept the branch and deleted the shortcut: that leaves R(x), the plain net's "
                "only path. Delete R(x) and keep relu(shortcut(x))."
            )
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
