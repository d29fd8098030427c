"""The residual stream of notebook 07: pre-LN, post-LN and ReZero sublayers against their definitions."""

import pytest
import torch
import torch.nn.functional as F

from resblock.transformer import MLP, Residual, ResidualStream, SelfAttention, StreamConfig, branch_output_layers
from resblock.variants import weight_grad_norms


def _ln(x, ln):
    return F.layer_norm(x, ln.normalized_shape, ln.weight, ln.bias, ln.eps)


def _f():
    torch.manual_seed(0)
    return MLP(8)


def test_mlp_is_linear_gelu_linear():
    f = _f()
    x = torch.randn(2, 3, 8)
    torch.testing.assert_close(f(x), F.linear(F.gelu(F.linear(x, f.fc1.weight, f.fc1.bias)), f.fc2.weight, f.fc2.bias))
    assert f.fc1.out_features == 32


def test_self_attention_matches_softmax_formula():
    torch.manual_seed(0)
    att = SelfAttention(8, heads=2)
    x = torch.randn(2, 5, 8)
    q, k, v = att.qkv(x).split(8, dim=-1)
    heads = lambda t: t.view(2, 5, 2, 4).transpose(1, 2)
    q, k, v = heads(q), heads(k), heads(v)
    w = torch.softmax(q @ k.transpose(-1, -2) / 4**0.5, dim=-1)
    want = att.proj((w @ v).transpose(1, 2).reshape(2, 5, 8))
    torch.testing.assert_close(att(x), want, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="multiple of heads"):
        SelfAttention(10, heads=4)


def test_pre_post_rezero_definitions():
    x = torch.randn(2, 3, 8) * 3 + 1
    pre, post, rez = Residual(_f(), 8, "pre"), Residual(_f(), 8, "post"), Residual(_f(), 8, "rezero")
    with torch.no_grad():
        for sub in (pre, post):
            sub.ln.weight.uniform_(0.5, 1.5)
            sub.ln.bias.uniform_(-0.5, 0.5)
    torch.testing.assert_close(pre(x), x + pre.f(_ln(x, pre.ln)))
    torch.testing.assert_close(post(x), _ln(x + post.f(x), post.ln))
    torch.testing.assert_close(rez(x), x)  # gate = 0 at init
    with torch.no_grad():
        rez.gate.fill_(0.5)
    torch.testing.assert_close(rez(x), x + 0.5 * rez.f(x))
    with pytest.raises(ValueError, match="position"):
        Residual(_f(), 8, "middle")


def test_pre_ln_stack_has_an_identity_path_post_ln_does_not():
    model = ResidualStream(StreamConfig(depth=4, width=8, position="pre"))
    with torch.no_grad():
        for sub in model.sublayers():
            sub.f.fc2.weight.zero_()
    h = torch.randn(2, 28, 8) * 5
    torch.testing.assert_close(model.layers(h), h)
    post = ResidualStream(StreamConfig(depth=4, width=8, position="post"))
    with torch.no_grad():
        for sub in post.sublayers():
            sub.f.fc2.weight.zero_()
    assert not torch.allclose(post.layers(h), h)  # LN(x + 0) = LN(x) renormalises the stream


@pytest.mark.parametrize("mixer", ["mlp", "attention"])
@pytest.mark.parametrize("position", ["pre", "post", "rezero"])
def test_stream_shapes_and_layer_names(mixer, position):
    model = ResidualStream(StreamConfig(depth=3, position=position, mixer=mixer))
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert model(torch.randn(2, 28, 28)).shape == (2, 10)
    assert len(model.sublayers()) == 3 * (2 if mixer == "attention" else 1)
    params = dict(model.named_parameters())
    assert all(n + ".weight" in params for n in branch_output_layers(model))


def test_bad_inputs_are_explained():
    with pytest.raises(ValueError, match="tokens of shape"):
        ResidualStream(StreamConfig(depth=2))(torch.randn(2, 3, 28, 28))
    for kwargs, match in (
        (dict(position="sandwich"), "position"),
        (dict(mixer="conv"), "mixer"),
        (dict(depth=0), "depth"),
        (dict(mixer="attention", width=30, heads=4), "multiple"),
    ):
        with pytest.raises(ValueError, match=match):
            StreamConfig(**kwargs)


def _first_last(position, depth=96):
    torch.manual_seed(0)
    model = ResidualStream(StreamConfig(depth=depth, position=position))
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g)
    w = weight_grad_norms(model, [n + ".weight" for n in branch_output_layers(model)], x, y)
    return w[0] / w[-1]


def test_deep_post_ln_gradients_shrink_toward_the_input_pre_ln_do_not():
    # Notebook 07's claim (Xiong et al. 2020, Fig. 3): at depth, post-LN's branch weights near the input
    # get much smaller gradients than those near the output; pre-LN's do not shrink (here they grow).
    assert _first_last("post") < 0.3
    assert _first_last("pre") > 1.0
