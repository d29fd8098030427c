"""The transformer's residual stream: pre-LN x + f(LN(x)) against post-LN LN(x + f(x)) (notebook 07).

A transformer is a stack of residual sublayers, attention and MLP, each adding its output to a
running sum, the *residual stream*. Where the LayerNorm sits matters. The original Transformer
(Vaswani et al. 2017) normalised after the addition, LN(x + f(x)) ("post-LN"); GPT-2 and most
models since normalise the branch's input, x + f(LN(x)) ("pre-LN"), which leaves an identity path
from the first layer to the last. Xiong et al., "On Layer Normalization in the Transformer
Architecture", arXiv:2002.04745, show that at initialisation the gradient of post-LN's last-layer
parameters does not shrink with depth while pre-LN's scales like 1/sqrt(depth) (so a deep post-LN
stack has large gradients near its output), and that pre-LN trains without the learning-rate
warm-up post-LN needs. Notebook 07 measures both in this module's stack. ReZero (arXiv:2003.04887) drops the
LayerNorm and gates each branch with a scalar that starts at 0: x + gate f(x).

Here the "sequence" is an image's 28 rows, so a small transformer classifies Fashion-MNIST.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from resblock.checks import check_instance, check_positive_int
from resblock.models import check_images_dtype

POSITIONS = ("pre", "post", "rezero")
MIXERS = ("mlp", "attention")


class MLP(nn.Module):
    """The transformer's feed-forward sublayer: Linear(d, 4d) - GELU - Linear(4d, d)."""

    def __init__(self, width: int, expansion: int = 4) -> None:
        super().__init__()
        width = check_positive_int("width", width, " (features per token)")
        expansion = check_positive_int("expansion", expansion, " (the hidden layer is expansion x width)")
        self.fc1 = nn.Linear(width, expansion * width)
        self.fc2 = nn.Linear(expansion * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class SelfAttention(nn.Module):
    """Multi-head self-attention over the tokens (no mask: every row of the image sees every other)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        width = check_positive_int("width", width, " (features per token)")
        heads = check_positive_int("heads", heads, " (attention heads)")
        if width % heads != 0:
            raise ValueError(f"width ({width}) must be a multiple of heads ({heads}), e.g. width=64, heads=4.")
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)  # each (b, h, t, d/h)
        y = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(d/h)) v
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class Residual(nn.Module):
    """One residual sublayer around f: pre-LN x + f(LN(x)), post-LN LN(x + f(x)), or ReZero x + gate f(x)."""

    def __init__(self, f: nn.Module, width: int, position: str = "pre") -> None:
        super().__init__()
        check_instance("f", f, nn.Module, "the branch, e.g. MLP(width)")
        width = check_positive_int("width", width, " (features per token)")
        if position not in POSITIONS:
            raise ValueError(f"position must be one of {POSITIONS}, got {position!r}.")
        self.position = position
        self.f = f
        self.ln: nn.Module = nn.LayerNorm(width) if position != "rezero" else nn.Identity()
        # ReZero's gate; 0 at init so the sublayer starts as the identity (a no-op when not ReZero).
        self.gate = nn.Parameter(torch.zeros(())) if position == "rezero" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.position == "pre":
            return x + self.f(self.ln(x))  # the stream x passes through untouched
        if self.position == "post":
            return self.ln(x + self.f(x))  # every sublayer renormalises the stream itself
        return x + self.gate * self.f(x)


@dataclass(frozen=True)
class StreamConfig:
    """A stack of residual sublayers on a sequence of tokens; defaults read Fashion-MNIST rows as tokens."""

    depth: int = 24  # transformer layers; each holds one sublayer ("mlp") or two ("attention": attention then MLP)
    width: int = 32  # d_model: features per token in the residual stream
    position: str = "pre"  # where LayerNorm sits: "pre", "post" or "rezero" (no LayerNorm, gated branch)
    mixer: str = "mlp"  # "mlp": MLP sublayers only; "attention": attention + MLP, a real transformer layer
    heads: int = 4  # attention heads (only with mixer="attention")
    tokens: int = 28  # sequence length: the 28 rows of an image
    token_features: int = 28  # features per input token: the 28 pixels of a row
    num_classes: int = 10

    def __post_init__(self) -> None:
        for name in ("depth", "width", "heads", "tokens", "token_features", "num_classes"):
            object.__setattr__(self, name, check_positive_int(name, getattr(self, name)))
        if self.position not in POSITIONS:
            raise ValueError(f"position must be one of {POSITIONS}, got {self.position!r}.")
        if self.mixer not in MIXERS:
            raise ValueError(f"mixer must be one of {MIXERS}, got {self.mixer!r}.")
        if self.mixer == "attention" and self.width % self.heads != 0:
            raise ValueError(f"width ({self.width}) must be a multiple of heads ({self.heads}).")


class ResidualStream(nn.Module):
    """Embed tokens, run `depth` transformer layers on the residual stream, pool, classify (notebook 07)."""

    def __init__(self, config: StreamConfig = StreamConfig()) -> None:
        super().__init__()
        check_instance("config", config, StreamConfig, "e.g. StreamConfig(depth=24, position='pre')")
        self.config = config
        d = config.width
        self.embed = nn.Linear(config.token_features, d)
        self.pos = nn.Parameter(torch.zeros(config.tokens, d))
        layers = []
        for _ in range(config.depth):
            if config.mixer == "attention":
                layers.append(Residual(SelfAttention(d, config.heads), d, config.position))
            layers.append(Residual(MLP(d), d, config.position))
        self.layers = nn.Sequential(*layers)
        # Pre-LN's stream is a raw sum that grows with depth: it needs one LayerNorm at the end
        # (as in GPT-2 and Xiong et al.); post-LN's stream is already normalised.
        self.ln_final: nn.Module = nn.LayerNorm(d) if config.position == "pre" else nn.Identity()
        self.head = nn.Linear(d, config.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)  # Xavier, as in Xiong et al.'s analysis and the original Transformer
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.pos, std=0.02)

    def sublayers(self) -> list[Residual]:
        """The residual sublayers, input to output."""
        return list(self.layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        if not isinstance(x, torch.Tensor):
            raise ValueError(
                f"expected a torch tensor of tokens or images, got {type(x).__name__}; use torch.as_tensor(x)."
            )
        check_images_dtype(x, self)  # float64 or raw bytes would fail inside the first Linear
        if x.dim() == 4 and x.shape[1] == 1:
            x = x[:, 0]  # (batch, 1, rows, cols) images -> (batch, rows, cols) sequences of rows
        if x.dim() != 3 or x.shape[1:] != (c.tokens, c.token_features):
            raise ValueError(
                f"expected tokens of shape (batch, {c.tokens}, {c.token_features}) or images (batch, 1, "
                f"{c.tokens}, {c.token_features}); got {tuple(x.shape)}."
            )
        h = self.embed(x) + self.pos  # the residual stream, (batch, tokens, width)
        h = self.ln_final(self.layers(h))
        return self.head(h.mean(dim=1))


def branch_output_layers(model: ResidualStream) -> list[str]:
    """Names of each sublayer's last Linear (attention's proj, the MLP's fc2): the weights Xiong et al. plot."""
    check_instance("model", model, ResidualStream, "e.g. ResidualStream(StreamConfig(depth=24))")
    names = []
    for i, sub in enumerate(model.sublayers()):
        names.append(f"layers.{i}.f." + ("proj" if isinstance(sub.f, SelfAttention) else "fc2"))
    return names
