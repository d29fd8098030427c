"""Pictures of the degradation experiment (notebook 03): data in, matplotlib ``Axes`` out.

The results they draw (a dict, as ``resblock.degradation.run_degradation`` returns and
``load_results`` reads) and the numbers behind them are ``resblock.degradation``'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from resblock.checks import check_bool, check_int, check_sequence
from resblock.degradation import check_results, final_losses, parse_net
from resblock.evaluation import smooth
from resblock.style import OKABE_ITO, markevery, new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_final_losses", "plot_test_error", "plot_training_loss"]


def _smooth(values: Sequence[float], window: int) -> list[float]:
    return smooth(list(values), window)


# Depth by colour and marker shape, plain vs residual by line style and marker fill (resblock.style):
# every pair of nets differs in a way that survives greyscale and colour blindness.
_DEPTH_LOOK = {20: (OKABE_ITO["orange"], "s"), 56: (OKABE_ITO["blue"], "o")}


def _look(net: str) -> dict[str, Any]:
    """Line keywords for ``net``: colour and marker by depth, line style and marker fill by family."""
    depth, shortcut = parse_net(net)
    colour, marker = _DEPTH_LOOK.get(depth, (OKABE_ITO["green"], "^"))
    return {
        "color": colour,
        "ls": "-" if shortcut else "--",
        "marker": marker,
        **({} if shortcut else {"mfc": "white"}),
    }


def _nets_to_draw(results: Mapping[str, Any], nets: Sequence[str] | None) -> list[str]:
    """``nets``, checked against ``results`` (a net asked for by name must have runs there), or all of results' nets."""
    check_results(results)
    if nets is None:
        return list(results["nets"])
    check_sequence("nets", nets, "net names", "['plain20', 'plain56']", item=str)
    have = {r.get("net") for r in results["runs"]}
    absent = [n for n in nets if n not in have]
    if absent:
        raise ValueError(f"results holds no runs of {absent}; its nets are {sorted(have)}.")
    return list(nets)


def plot_training_loss(
    results: Mapping[str, Any],
    nets: Sequence[str] | None = None,
    ax: Axes | None = None,
    window: int = 25,
    log: bool = False,
) -> Axes:
    """Training loss per step (running mean of ``window`` steps): the mean over seeds, with the seeds' range shaded."""
    nets = _nets_to_draw(results, nets)
    check_bool("log", log)
    check_int("window", window, low=1, what=" (values averaged)")
    ax = new_axes(ax, (5, 3.4))
    for net in nets:
        curves = [_smooth(r["step_loss"], window) for r in results["runs"] if r["net"] == net]
        if not curves:
            continue
        n = min(len(c) for c in curves)
        mean = [sum(c[i] for c in curves) / len(curves) for i in range(n)]
        look = _look(net)
        colour = look["color"]
        steps = range(1, n + 1)
        ax.plot(steps, mean, lw=1.5, label=_label(net), markevery=markevery(n, 8), ms=5, **look)
        if len(curves) > 1:
            ax.fill_between(
                steps,
                [min(c[i] for c in curves) for i in range(n)],
                [max(c[i] for c in curves) for i in range(n)],
                color=colour,
                alpha=0.15,
                lw=0,
            )
    ax.set(xlabel="SGD step", ylabel="training loss (cross-entropy)", title="training loss")
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    return ax


def plot_test_error(results: Mapping[str, Any], nets: Sequence[str] | None = None, ax: Axes | None = None) -> Axes:
    """Test error at each evaluation, mean over seeds (the last point uses the whole test set)."""
    nets = _nets_to_draw(results, nets)
    ax = new_axes(ax, (5, 3.4))
    for net in nets:
        runs = [r for r in results["runs"] if r["net"] == net]
        if not runs:
            continue
        n = min(len(r["test_error"]) for r in runs)
        mean = [100 * sum(r["test_error"][i] for r in runs) / len(runs) for i in range(n)]
        ax.plot(runs[0]["eval_step"][:n], mean, ms=4, lw=1.5, label=_label(net), **_look(net))
    ax.set(xlabel="SGD step", ylabel="test error (%)", title="test error")
    ax.legend(fontsize=8)
    return ax


def plot_final_losses(results: Mapping[str, Any], ax: Axes | None = None) -> Axes:
    """Each net's final training loss, one dot per seed and a bar for the mean."""
    check_results(results)
    f = final_losses(results)
    ax = new_axes(ax, (5, 3.4))
    for i, net in enumerate(results["nets"]):
        values = list(f.get(net, {}).values())
        colour, plain = _look(net)["color"], not parse_net(net)[1]  # plain: pale and hatched, residual: solid
        ax.bar(
            i,
            sum(values) / len(values),
            color=colour,
            alpha=0.35 if plain else 0.7,
            width=0.6,
            hatch="//" if plain else None,
            edgecolor=colour,
            lw=1,
        )
        ax.plot([i] * len(values), values, "k.", ms=6)
    ax.set_xticks(range(len(results["nets"])), [_label(n) for n in results["nets"]])
    ax.set(ylabel="final training loss", title="final training loss (dots: seeds)")
    return ax


def _label(net: str) -> str:
    depth, shortcut = parse_net(net)
    return f"{'ResNet' if shortcut else 'plain'}-{depth}"
