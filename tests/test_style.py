"""The course's figure style (resblock.style): series readable without colour, palette safe for colour blindness."""

import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402

from resblock import style  # noqa: E402

# Machado, Oliveira & Fernandes (2009), full-severity deuteranopia, applied to linear RGB.
DEUTERANOPIA = np.array(
    [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]]
)


def _linear(colour):
    c = np.array(to_rgb(colour))
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _luminance(colour) -> float:
    return float(np.dot([0.2126, 0.7152, 0.0722], _linear(colour)))


def _look(line) -> tuple:
    """What tells a line apart without colour: its dash pattern, marker and marker fill."""
    filled = line.get_markerfacecolor() not in ("white", "none") and to_rgb(line.get_markerfacecolor()) != (1, 1, 1)
    return (
        str(line.get_linestyle()),
        str(line.get_dashes() if hasattr(line, "get_dashes") else ""),
        line.get_marker(),
        filled,
    )


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_plain_and_residual_differ_in_line_style_and_fill():
    plain, residual = style.series_style("plain-56"), style.series_style("ResNet-56")
    assert plain["ls"] == "--" and residual["ls"] == "-"
    assert plain["mfc"] == "white" and "mfc" not in residual  # open vs filled markers
    assert style.family("w^L, plain") == "plain" and style.family("(1 + w)^L, with shortcut") == "residual"
    assert style.family("plain20") == "plain" and style.family("resnet56") == "residual"
    assert style.family("pre-activation") is None


def test_plain_and_residual_colours_survive_greyscale_and_deuteranopia():
    p, r = style.PLAIN["color"], style.RESIDUAL["color"]
    assert abs(_luminance(p) - _luminance(r)) > 0.05  # distinct greys, on top of the dashes
    seen_p, seen_r = DEUTERANOPIA @ _linear(p), DEUTERANOPIA @ _linear(r)
    assert np.linalg.norm(seen_p - seen_r) > 0.3  # still two clearly different colours to a deuteranope


def test_cycle_never_repeats_a_look_within_its_length():
    looks = [style.cycle_style(i) for i in range(len(style.PALETTE))]
    assert len({str((s["ls"], s["marker"])) for s in looks}) == len(looks)
    assert len({s["color"] for s in looks}) == len(looks)
    # no cycle entry looks like plain (dashed) or residual (solid with a circle)
    assert all(s["ls"] != "--" and s["marker"] != "o" for s in looks)


def _assert_series_distinct_without_colour(ax):
    lines = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
    assert len(lines) >= 2
    for a, b in itertools.combinations(lines, 2):
        assert _look(a) != _look(b), f"{a.get_label()!r} and {b.get_label()!r} differ only in colour"


def _assert_on_white(ax):
    assert ax.figure.patch.get_facecolor() == (1.0, 1.0, 1.0, 1.0)


def test_gradient_plots_tell_plain_from_residual_without_colour():
    from resblock.gradients_plots import plot_grad_norms, plot_scalar_toy

    ax = plot_grad_norms(
        {"plain": {f"l{i}": 1.0 / (i + 1) for i in range(30)}, "residual": {f"l{i}": 1.0 for i in range(30)}}
    )
    _assert_series_distinct_without_colour(ax)
    _assert_on_white(ax)
    ax = plot_scalar_toy([0, 5, 10], {"(1 + w)^L, with shortcut": [1, 1.6, 2.6], "w^L, plain": [1, 1e-5, 1e-10]})
    _assert_series_distinct_without_colour(ax)


def test_other_package_plots_tell_series_apart_without_colour():
    from resblock.landscape import Line
    from resblock.landscape_plots import plot_lines
    from resblock.paths_plots import plot_path_length_distribution
    from resblock.variants_plots import plot_profiles

    a = np.linspace(-1, 1, 5)
    ax = plot_lines({"plain20": Line(a, a**2 + 1, a * 0, 0.0), "resnet20": Line(a, a**2, a * 0, 0.0)})
    _assert_series_distinct_without_colour(ax)
    _assert_on_white(ax)
    _assert_series_distinct_without_colour(plot_path_length_distribution((3, 9, 27)))
    _assert_series_distinct_without_colour(
        plot_profiles({n: [1.0, 2.0, 3.0] for n in ("plain", "basic", "pre-activation", "bottleneck", "ReZero")})
    )


def test_degradation_plots_tell_all_four_nets_apart_without_colour():
    from resblock.degradation_plots import plot_test_error

    runs = [
        {"net": n, "test_error": [0.5, 0.3], "eval_step": [1, 2]}
        for n in ("plain20", "plain56", "resnet20", "resnet56")
    ]
    ax = plot_test_error({"nets": ["plain20", "plain56", "resnet20", "resnet56"], "runs": runs})
    _assert_series_distinct_without_colour(ax)


def test_rc_params_give_a_white_background_and_styled_cycle():
    with matplotlib.rc_context(style.rc_params()):
        fig, ax = plt.subplots()
        a, b = ax.plot([0, 1]), ax.plot([1, 0])
    assert fig.patch.get_facecolor() == (1.0, 1.0, 1.0, 1.0)
    assert a[0].get_linestyle() != b[0].get_linestyle()


def test_new_axes_makes_one_white_figure_or_takes_the_callers_axes():
    ax = style.new_axes(figsize=(4.0, 2.0))
    assert tuple(ax.figure.get_size_inches()) == (4.0, 2.0) and ax.figure.axes == [ax]
    _assert_on_white(ax)
    _, theirs = plt.subplots()
    assert style.new_axes(theirs) is theirs
    _assert_on_white(theirs)
    assert style.new_axes(projection="3d").name == "3d"
    grid = style.new_axes_grid(2, 3, (6.0, 4.0))
    assert grid.shape == (2, 3) and len({a.figure for a in grid.flat}) == 1
    _assert_on_white(grid[1, 2])
