"""Fixtures shared by the unit tests (tests/browser has its own conftest.py beside this one)."""

import pytest


class FigureWatch:
    """What a plot function did to pyplot's open figures, counted from the start of the test."""

    def __init__(self, before: set[int]) -> None:
        self.before = before

    def new(self) -> set[int]:
        """The numbers of the figures opened since the test began and still open."""
        import matplotlib.pyplot as plt

        return set(plt.get_fignums()) - self.before

    def own_new_figure(self, ax):
        """``ax`` is an Axes on exactly one new figure (the function made it and left it open); returns it."""
        from matplotlib.axes import Axes

        assert isinstance(ax, Axes)
        assert self.new() == {ax.figure.number}
        return ax.figure


@pytest.fixture
def figures(monkeypatch):
    """For a plot function's test: no plt.show, and a figure opened before the call stays open; yields a FigureWatch."""
    import matplotlib.pyplot as plt

    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("a plot function called plt.show"))
    sentinel = plt.figure()
    yield FigureWatch(set(plt.get_fignums()))
    assert plt.fignum_exists(sentinel.number), "a plot function closed a figure it did not open"
    plt.close(sentinel)
