"""Seeding and device choice."""

import pytest
import torch

from resblock.env import (
    available_cpus,
    cpu_limit,
    describe_environment,
    match_threads_to_cpus,
    pick_device,
    seed_everything,
    seeded,
)


def test_same_seed_same_numbers():
    seed_everything(3)
    a = torch.randn(5)
    seed_everything(3)
    assert torch.equal(a, torch.randn(5))


def test_seeded_repeats_its_draws_and_keeps_the_callers_stream():
    torch.manual_seed(7)
    expected_next = torch.randn(3)
    torch.manual_seed(7)
    with seeded(2):
        inside = torch.randn(4)
    assert torch.equal(torch.randn(3), expected_next)  # the caller's stream goes on as if nothing was drawn
    torch.manual_seed(2)
    assert torch.equal(inside, torch.randn(4))  # exactly torch.manual_seed(2)'s numbers
    torch.manual_seed(7)
    with pytest.raises(RuntimeError), seeded(2):  # given back when the block raises, too
        torch.randn(5)
        raise RuntimeError
    assert torch.equal(torch.randn(3), expected_next)
    for bad in (-1, 1.5, True, "0"):
        with pytest.raises(ValueError, match="non-negative whole number"), seeded(bad):
            pass


def test_bad_seed():
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-1)


def test_device_default_and_override(monkeypatch):
    monkeypatch.delenv("RESBLOCK_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device().type == expected
    assert pick_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            pick_device("cuda")


def test_import_does_nothing_heavy():
    import subprocess
    import sys

    code = "import resblock, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_describe_environment_has_versions():
    info = describe_environment()
    assert info["torch"] == torch.__version__ and info["device"]


def test_course_seed_follows_the_environment(monkeypatch):
    from resblock.env import course_seed, seed_everything
    from resblock.train import TrainConfig

    monkeypatch.delenv("RESBLOCK_SEED", raising=False)
    assert course_seed() == 0 and course_seed(2) == 2 and seed_everything() == 0
    monkeypatch.setenv("RESBLOCK_SEED", "5")
    assert course_seed() == 5 and course_seed(1) == 6 and seed_everything() == 5
    assert TrainConfig().seed == 5, "TrainConfig's default seed is the course's"


@pytest.mark.parametrize("value, words", [("abc", "whole number"), ("-1", ">= 0"), ("1.5", "whole number")])
def test_a_bad_course_seed_says_how_to_set_it(monkeypatch, value, words):
    from resblock.env import course_seed

    monkeypatch.setenv("RESBLOCK_SEED", value)
    with pytest.raises(ValueError, match=words):
        course_seed()


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"cpu.max": "100000 100000\n"}, 1.0),  # cgroup v2, Binder's one CPU
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu.max": "max 100000\n"}, None),  # v2 without a limit
        ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),  # cgroup v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),  # v1 without a limit
        ({"cpu.max": "garbage"}, None),
        ({}, None),  # not Linux, or no cgroup files
    ],
)
def test_cpu_limit_reads_both_cgroup_versions(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cpu_limit(tmp_path) == expected


@pytest.fixture
def threads_restored():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("quota, threads_after", [("100000 100000", 1), ("150000 100000", 1), ("max 100000", 2)])
def test_threads_are_capped_at_the_containers_cpus(tmp_path, monkeypatch, threads_restored, quota, threads_after):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    (tmp_path / "cpu.max").write_text(quota)
    torch.set_num_threads(2)
    assert match_threads_to_cpus(tmp_path) == threads_after == torch.get_num_threads()


def test_a_chosen_thread_count_is_kept(tmp_path, monkeypatch, threads_restored):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    (tmp_path / "cpu.max").write_text("100000 100000")
    torch.set_num_threads(2)
    assert match_threads_to_cpus(tmp_path) == 2


@pytest.mark.parametrize(
    "cores, quota, omp, expected",
    [
        ({0, 1}, "max 100000", None, 2),  # two cores, no limit
        ({0, 1}, "100000 100000", None, 1),  # Binder: two cores seen, one CPU's time allowed
        ({0, 1, 2, 3}, "250000 100000", None, 2),  # a fraction of a CPU is not one more
        ({0, 1}, "max 100000", "1", 1),  # OMP_NUM_THREADS=1: one thread asked for
        ({0}, "max 100000", "4", 1),  # pinned to one core (taskset)
        ({0, 1}, "max 100000", "lots", 2),  # not a number: ignored
    ],
)
def test_available_cpus_takes_the_smallest_limit(tmp_path, monkeypatch, cores, quota, omp, expected):
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: cores, raising=False)
    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    (tmp_path / "cpu.max").write_text(quota)
    assert available_cpus(tmp_path) == expected


def test_pick_device_freezes_what_exists_once_and_later_objects_are_still_collected(tmp_path):
    """The first pick_device freezes the objects of the set-up; later ones are not frozen, and a file left
    open in a reference cycle after it is still flushed when the process exits (the collector frees it)."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import gc, sys
        from resblock import env
        assert gc.get_freeze_count() == 0
        env.pick_device()
        frozen = gc.get_freeze_count()
        print("frozen by the first call:", frozen > 100_000)
        made_later = [[i] for i in range(1000)]
        env.pick_device("cpu")
        print("a second call freezes nothing more:", gc.get_freeze_count() == frozen)

        class Holder:  # an object in a cycle: only the collector frees it
            pass

        holder = Holder()
        holder.me = holder
        holder.file = open(sys.argv[1], "w")
        holder.file.write("flushed")
    """)
    out = tmp_path / "written.txt"
    run = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["frozen by the first call: True", "a second call freezes nothing more: True"]
    assert out.read_text() == "flushed", "a file in a cycle made after the set-up must still be flushed at exit"


def test_no_module_reads_the_course_seed_when_imported():
    # $RESBLOCK_SEED is read when a seed is needed, never at import (a default argument built then would
    # freeze it): with a bad value every module still imports, and the error comes at first use.
    import os
    import pkgutil
    import subprocess
    import sys

    import resblock

    names = [m.name for m in pkgutil.walk_packages(resblock.__path__, "resblock.")]
    code = f"import importlib\nfor name in {names!r}:\n    importlib.import_module(name)\nprint('imported')"
    env = {**os.environ, "RESBLOCK_SEED": "not-a-seed"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "imported", run.stderr[-2000:]


def test_fit_and_the_explorer_take_the_seed_set_after_import(monkeypatch):
    import inspect

    from resblock.train import fit
    from resblock.widgets.gradflow import GradFlowExplorer

    for fn, name in ((fit, "config"), (GradFlowExplorer.__init__, "settings")):
        assert inspect.signature(fn).parameters[name].default is None  # built at each call, from the seed then
    monkeypatch.setenv("RESBLOCK_SEED", "11")
    from resblock.explorer import ExplorerSettings
    from resblock.train import TrainConfig

    assert TrainConfig().seed == ExplorerSettings().seed == 11
