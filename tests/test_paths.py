"""Paths, lesions and effective paths (resblock.paths, notebook 05), each against an oracle."""

import math

import pytest
import torch
import torch.nn.functional as F

from resblock import paths, paths_plots
from resblock.models import ResNet, ResNetConfig, randomise_batchnorm_


def small_net(shortcut: bool, depth: int = 14, seed: int = 0) -> ResNet:
    torch.manual_seed(seed)
    net = ResNet(ResNetConfig(depth=depth, shortcut=shortcut, widths=(4, 8, 8)))
    return randomise_batchnorm_(net).eval()  # BN statistics and affine parameters as a trained net has them


def batch(n: int = 6, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


@pytest.mark.parametrize("n", range(0, 9))
def test_binomial_counts_match_brute_force_enumeration(n):
    counts = [0] * (n + 1)
    for path in paths.all_paths(n):
        counts[sum(path)] += 1
    assert counts == paths.binomial_path_counts(n)
    assert sum(counts) == 2**n
    assert paths.path_length_distribution(n).sum() == pytest.approx(1.0)


def test_unrolled_terms_add_up_to_the_product_of_the_blocks():
    torch.manual_seed(0)
    a = [0.3 * torch.randn(4, 4, dtype=torch.float64) for _ in range(4)]
    eye = torch.eye(4, dtype=torch.float64)
    product = eye
    for m in a:
        product = (eye + m) @ product
    terms = paths.unrolled_terms(a)
    assert len(terms) == 5
    torch.testing.assert_close(sum(terms), product)
    torch.testing.assert_close(terms[0], eye)  # the one path through no branch
    torch.testing.assert_close(terms[4], a[3] @ a[2] @ a[1] @ a[0])  # the one path through all
    torch.testing.assert_close(terms[1], sum(a))  # the four paths through one branch each


def test_unrolled_terms_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="square"):
        paths.unrolled_terms([torch.zeros(2, 2), torch.zeros(3, 3)])


def test_removable_blocks():
    res, plain = small_net(True), small_net(False)
    assert paths.removable(res) == [True] * 6
    # plain-14: stage 1 keeps shapes; the first block of stages 2 and 3 strides and widens.
    assert paths.removable(plain) == [True, True, False, True, False, True]
    assert paths.block_names(res) == ["layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1"]


@pytest.mark.parametrize("i", [1, 2, 4])  # identity-shortcut and projection-shortcut blocks
def test_lesion_equals_a_block_whose_branch_is_zeroed(i):
    net = small_net(True)
    x, _ = batch()
    zeroed = small_net(True)
    block = list(zeroed.blocks)[i]
    torch.nn.init.zeros_(block.bn2.weight)
    torch.nn.init.zeros_(block.bn2.bias)  # now R(x) = 0 exactly
    with torch.no_grad():
        torch.testing.assert_close(paths.lesioned(net, [i])(x), zeroed(x))
        assert not torch.allclose(net(x), zeroed(x))  # the branch did matter


def test_lesion_of_a_plain_block_skips_it_and_leaves_the_original_intact():
    net = small_net(False)
    x, _ = batch()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        out = paths.lesioned(net, [1])(x)
        h = F.relu(net.bn1(net.conv1(x)))
        h = net.layer1[0](h)  # block 1 (layer1.1) skipped
        h = net.layer3(net.layer2(h))
        expected = net.fc(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))
    torch.testing.assert_close(out, expected)
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k])
    assert not net.layer1[1].has_shortcut


def test_lesion_rejects_shape_changing_plain_blocks_and_bad_indices():
    with pytest.raises(ValueError, match="cannot be deleted"):
        paths.lesioned(small_net(False), [2])
    with pytest.raises(ValueError, match="out of range"):
        paths.lesioned(small_net(True), [6])
    with pytest.raises(ValueError, match="ResNet"):
        paths.removable(torch.nn.Linear(2, 2))


def test_a_lesion_deletes_what_it_can_and_a_plain_net_keeps_its_shape_changing_blocks():
    # The oracle, computed directly: a block can go if it has a shortcut or its output has its input's shape.
    x, _ = batch(2)
    for net in (small_net(True), small_net(False)):
        inputs = paths.block_inputs(net, x)
        with torch.inference_mode():
            same_shape = [b(h).shape == h.shape for b, h in zip(net.blocks, inputs, strict=True)]
        for asked in ([], [4, 1, 2, 1], range(6)):
            chosen = sorted(set(asked))
            goes = [i for i in chosen if net.blocks[i].has_shortcut or same_shape[i]]
            assert paths.split_lesion(net, asked) == (goes, [i for i in chosen if i not in goes])
    assert paths.split_lesion(small_net(False), range(6)) == ([0, 1, 3, 5], [2, 4])  # stages 2 and 3 start by striding
    assert paths.split_lesion(small_net(True), range(6)) == (list(range(6)), [])
    with pytest.raises(ValueError, match="out of range"):
        paths.split_lesion(small_net(False), [6])


def test_single_and_random_lesions():
    x, y = batch(40)
    plain = small_net(False)
    accs = paths.single_lesions(plain, x, y)
    assert [math.isnan(a) for a in accs] == [not r for r in paths.removable(plain)]
    res = small_net(True)
    r = paths.random_lesions(res, x, y, ks=[0, 2, 6], draws=2, seed=0)
    assert r.ks == [0, 2, 6] and [len(a) for a in r.accuracies] == [1, 2, 2]
    assert r.accuracies[0][0] == pytest.approx(paths.lesion_accuracy(res, x, y))
    # deleting every branch leaves the same net whichever order they were drawn in
    assert r.accuracies[2][0] == r.accuracies[2][1] == pytest.approx(paths.lesion_accuracy(res, x, y, range(6)))
    with pytest.raises(ValueError, match="each k"):
        paths.random_lesions(res, x, y, ks=[7])


def test_lesion_studies_leave_the_models_mode_as_it_was():
    x, y = batch(8)
    res = small_net(True).train()
    paths.single_lesions(res, x, y)
    paths.random_lesions(res, x, y, ks=[1], draws=1)
    paths.accuracy_from(res, paths.block_inputs(res, x), [2], y)
    assert res.training and all(m.training for m in res.modules())


def test_path_gradients_over_all_paths_sum_to_the_full_gradient():
    # Oracle: the chain rule through (branch + shortcut) expands into the sum over all 2^n paths.
    net = small_net(True, depth=8)  # 3 blocks, 8 paths
    x, y = batch(4)
    pieces, g_top, _ = paths.path_pieces(net, x, y)
    total = sum(paths.path_gradient(pieces, g_top, {i for i, t in enumerate(p) if t}) for p in paths.all_paths(3))
    h = F.relu(net.bn1(net.conv1(x))).detach().requires_grad_(True)
    out = net.fc(torch.flatten(F.adaptive_avg_pool2d(net.layer3(net.layer2(net.layer1(h))), 1), 1))
    (full,) = torch.autograd.grad(F.cross_entropy(out, y, reduction="sum"), h)
    torch.testing.assert_close(total, full, rtol=1e-4, atol=1e-6)


def _one_path_by_autograd(net, x, y, through: set[int]) -> torch.Tensor:
    """Oracle for one path: the net's own forward pass with the other half of every block detached.

    Detaching changes no value (so every ReLU mask is the full net's), only where the gradient may flow:
    through the branch in the blocks ``through``, through the shortcut elsewhere.
    """
    h0 = net.stem(x).detach().requires_grad_(True)
    h = h0
    for i, b in enumerate(net.blocks):
        r, s = b.residual(h), b.shortcut_scale * b.shortcut(h)
        h = F.relu(r + s.detach() if i in through else r.detach() + s)
    (g,) = torch.autograd.grad(F.cross_entropy(net.head(h), y, reduction="sum"), h0)
    return g


def test_each_length_is_measured_on_its_own_path():
    """per_path[k] against autograd: k = 0 and k = n are one path each; any single path is checked too."""
    net = small_net(True, depth=8)  # 3 blocks
    x, y = batch(4)
    pg = paths.gradient_by_path_length(net, x, y, paths_per_length=3, seed=0)
    for k, through in ((0, set()), (3, {0, 1, 2})):
        oracle = _one_path_by_autograd(net, x, y, through).flatten(1).norm(dim=1).mean()
        assert pg.per_path[k] == pytest.approx(float(oracle), rel=1e-5)
    pieces, g_top, _ = paths.path_pieces(net, x, y)
    torch.testing.assert_close(paths.path_gradient(pieces, g_top, {1}), _one_path_by_autograd(net, x, y, {1}))


def test_gradient_by_path_length_shape_and_plain_net_refused():
    net = small_net(True)
    x, y = batch(4)
    pg = paths.gradient_by_path_length(net, x, y, paths_per_length=2)
    assert pg.n == 6 and pg.per_path.shape == (7,) and (pg.per_path > 0).all()
    assert pg.total == pytest.approx(pg.counts * pg.per_path)
    assert pg.counts.tolist() == [1, 6, 15, 20, 15, 6, 1]
    with pytest.raises(ValueError, match="residual"):
        paths.gradient_by_path_length(small_net(False), x, y)


def test_plots_return_axes():
    import matplotlib

    matplotlib.use("Agg")
    ax = paths_plots.plot_path_length_distribution((3, 9))
    assert len(ax.get_lines()) == 2
    ax = paths_plots.plot_single_lesions({"a": [0.9, math.nan, 0.8]}, {"a": 0.9})
    assert ax.get_lines()[0].get_xdata().tolist() == [0, 2]


def test_lesion_toggles_re_measure(capsys):
    import matplotlib

    matplotlib.use("Agg")
    from resblock.widgets.lesions import LesionToggles

    x, y = batch(30)
    res, plain = small_net(True), small_net(False)
    box = LesionToggles({"res": res, "plain": plain}, x, y, removed=[1])
    assert "resblock-lesion-widget" in box.widget._dom_classes
    assert len(box.toggles) == 6 and [t.value for t in box.toggles] == [False, True, False, False, False, False]
    assert "resblock-lesion-toggle" in box.toggles[0]._dom_classes
    assert "resblock-lesion-accuracy" in box.readout._dom_classes
    assert "deleted blocks: 1 " in box.readout.value
    assert "keeps" not in box.toggles[1].tooltip and "plain keeps it: it changes the shape" in box.toggles[2].tooltip
    box.toggles[2].value = True  # shape-changing in the plain net: deleted only from the ResNet
    assert "deleted blocks: 1, 2 " in box.readout.value
    assert box.readout.value.count("keeps 2: it changes the shape") == 1  # said of the plain net only
    assert box.measure() == {
        "res": pytest.approx(paths.lesion_accuracy(res, x, y, [1, 2])),
        "plain": pytest.approx(paths.lesion_accuracy(plain, x, y, [1])),
    }
    assert f"{paths.lesion_accuracy(res, x, y, [1, 2]):.3f}" in box.readout.value


def test_single_lesions_agree_with_lesioning_one_block_at_a_time():
    x, y = batch(60)
    for net in (small_net(True), small_net(False)):
        got = paths.single_lesions(net, x, y)
        for i, ok in enumerate(paths.removable(net)):
            if ok:
                assert got[i] == pytest.approx(paths.lesion_accuracy(net, x, y, [i]))


@pytest.mark.slow
def test_trained_nets_lesion_contrast():
    # Notebook 05's claim on the committed checkpoints: one deleted block barely moves the ResNet,
    # and sends the plain net of the same depth towards chance.
    from resblock.data import load_fashion_mnist
    from resblock.trained_nets import load_or_train

    data = load_fashion_mnist()
    x, y = data.test_images[:100], data.test_labels[:100]
    res, plain = load_or_train(56, True), load_or_train(56, False)
    res_lesions = [a for a in paths.single_lesions(res, x, y) if not math.isnan(a)]
    plain_lesions = [a for a in paths.single_lesions(plain, x, y) if not math.isnan(a)]
    res_median = sorted(res_lesions)[len(res_lesions) // 2]
    plain_median = sorted(plain_lesions)[len(plain_lesions) // 2]
    assert res_median > paths.lesion_accuracy(res, x, y) - 0.1
    assert plain_median < 0.3


def test_random_lesion_plot_draws_each_nets_mean_and_spread():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    results = {
        "ResNet-56": paths.RandomLesions([1, 4, 8], [[0.9, 0.8], [0.6, 0.4, 0.5], [0.2, 0.1]]),
        "plain-56": paths.RandomLesions([1], [[0.1, 0.12]]),
    }
    ax = paths_plots.plot_random_lesions(results)
    bars = ax.containers  # one errorbar per net: its line is the mean, its bars the spread
    assert [c.get_label() for c in bars] == list(results)
    for c, r in zip(bars, results.values()):
        line, _, (segments,) = c.lines
        np.testing.assert_allclose(np.asarray(line.get_xdata(), dtype=float), r.ks)  # errorbar keeps x as objects
        np.testing.assert_allclose(line.get_ydata(), r.mean)
        spans = np.array([s[:, 1] for s in segments.get_segments()])  # (low, high) of each k
        np.testing.assert_allclose(spans, np.stack([r.mean - r.std, r.mean + r.std], axis=1))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["chance", *results]
    assert ax.get_ylim() == (0, 1) and ax.get_xlabel() == "blocks deleted at random"
    plt.close(ax.figure)


def test_path_gradient_plot_draws_counts_per_path_and_their_product():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    n = 4
    pg = paths.PathGradients(n, per_path=np.array([8.0, 4.0, 2.0, 1.0, 0.5]), spread=np.zeros(n + 1))
    a, b, c = paths_plots.plot_path_gradients(pg)
    counts = np.array([1, 4, 6, 4, 1], dtype=float)  # C(4, k): the number of paths of length k
    np.testing.assert_allclose([p.get_height() for p in a.patches], counts / 16)
    (line,) = b.get_lines()
    np.testing.assert_allclose(line.get_ydata(), pg.per_path)
    assert b.get_yscale() == "log"
    total = counts * pg.per_path
    np.testing.assert_allclose([p.get_height() for p in c.patches], total / total.sum())
    assert "n = 4" in a.get_title()
    plt.close(a.figure)


def test_lesion_bars_show_each_accuracy_and_keep_the_legend_off_them():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    acc, intact = {"plain-56": 0.18, "ResNet-56": 0.87}, {"plain-56": 0.72, "ResNet-56": 0.9}
    ax = paths_plots.plot_lesion_accuracies(acc, intact, 500, 1)
    fig = ax.figure
    fig.tight_layout()
    fig.canvas.draw()
    grey, coloured = ax.containers  # intact behind, with deletions in front, one bar per net in order
    assert [b.get_width() for b in grey] == [0.72, 0.9] and [b.get_width() for b in coloured] == [0.18, 0.87]
    assert ax.get_title() == "1 block(s) deleted" and ax.get_xlabel() == "accuracy on 500 test images"
    assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1  # beside the bars, not on them
    plt.close(fig)
