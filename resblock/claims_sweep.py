"""The robustness sweep behind ``make claims``: every notebook under several seeds, thread counts and arithmetic.

A claim the text makes must hold on any machine and any seed, not just on the one that executed the
committed notebooks. Training numbers change with the CPU's instruction set (ATen and oneDNN pick AVX2
or AVX-512 kernels, which sum in another order), with the thread count and with the seed. This command
runs every notebook top to bottom under each *variant* below, collects every checked claim's verdict
and measured value (``resblock.claims`` appends them to ``$RESBLOCK_CLAIMS_LOG``), and writes
``results/claims_sweep.json`` (with the CPU, torch version and date) and a readable
``results/claims_sweep.md``. Each run's outputs are also compared with the committed notebook's by
nbval's rules (``resblock.nbcompare``), as `make test` compares its run under another seed: what nbval
compares must be the same in every variant. It exits 1 when any claim fails or any compared output
differs, in any variant.

Arithmetic variants can only *lower* the instruction set (``ATEN_CPU_CAPABILITY``, ``ONEDNN_MAX_CPU_ISA``,
``MKL_ENABLE_INSTRUCTIONS``): an AVX-512 machine can emulate an AVX2 one exactly, an AVX2 machine can
emulate older kernels, which give a third set of numbers. The sweep picks what this CPU can emulate.

    python -m resblock.claims_sweep                       # all notebooks, the default variants
    python -m resblock.claims_sweep --notebooks 03 07 --variants seed1-1thread
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from resblock.files import REPO_ROOT, RESULTS_DIR

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"

# Lower the kernels to plain SSE4 ones: on an AVX2 machine this is "other arithmetic".
ARITH_SSE = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}
# On an AVX-512 machine: exactly the arithmetic of an AVX2 one (RECIPES.md, verified 2026-12-01).
ARITH_AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


@dataclass(frozen=True)
class Variant:
    """One way of running the course: a seed, a thread count and an arithmetic setting."""

    name: str
    seed: int = 0
    threads: int = 2  # OMP_NUM_THREADS; 1 also pins the kernel to one core (taskset), as on Binder
    arithmetic: dict[str, str] = field(default_factory=dict)
    arithmetic_name: str = "native"

    def env(self) -> dict[str, str]:
        """The environment variables that make this variant."""
        return {"RESBLOCK_SEED": str(self.seed), "OMP_NUM_THREADS": str(self.threads), **self.arithmetic}


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux), empty elsewhere."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_name() -> str:
    """The CPU's model name, as /proc/cpuinfo gives it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def default_variants(flags: set[str] | None = None) -> list[Variant]:
    """Seeds 0, 1 and 2; 2 threads and 1; native and one emulated arithmetic: each factor varied at least once."""
    flags = cpu_flags() if flags is None else flags
    other = ("avx2", ARITH_AVX2) if "avx512f" in flags else ("sse4", ARITH_SSE)
    return [
        Variant("seed0-2threads", seed=0, threads=2),
        Variant("seed1-1thread", seed=1, threads=1),
        Variant(f"seed2-{other[0]}", seed=2, threads=2, arithmetic=other[1], arithmetic_name=other[0]),
        Variant(f"seed0-1thread-{other[0]}", seed=0, threads=1, arithmetic=other[1], arithmetic_name=other[0]),
    ]


def find_notebooks(selection: list[str] | None) -> list[Path]:
    """The course's notebooks, or those whose names start with one of ``selection`` ("03", "07_res")."""
    every = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    if not selection:
        return every
    chosen = [p for p in every if any(p.name.startswith(s) for s in selection)]
    missing = [s for s in selection if not any(p.name.startswith(s) for p in every)]
    if missing:
        raise SystemExit(f"no notebook starts with {missing}; choose from {[p.name[:2] for p in every]}.")
    return chosen


def run_notebook(path: Path, variant: Variant, workdir: Path, timeout: int = 600, core: int = 0) -> dict:
    """Execute one notebook under ``variant`` (a fresh kernel) and return its claims, time, memory and errors.

    A one-thread variant is pinned to CPU ``core``, so two of them can run side by side on two cores.
    The run itself is ``resblock.bench.run_notebook_measured``, the runner the bench times notebooks with.
    """
    from resblock.bench import run_notebook_measured
    from resblock.claims import read_log

    log = workdir / f"{variant.name}-{path.stem}.jsonl"
    executed = workdir / f"{variant.name}-{path.name}"
    log.unlink(missing_ok=True)
    env = {
        **variant.env(),
        "RESBLOCK_CLAIMS_LOG": str(log),
        "PYTHONUNBUFFERED": "1",
        "RESBLOCK_CLAIMS_STRICT": "",
    }  # a failed claim is a finding to record, not a stop
    run = run_notebook_measured(
        path,
        cores=1 if variant.threads == 1 else None,
        first_core=core,
        env=env,
        timeout=timeout,
        output=executed,
    )
    claims = read_log(log)
    differences = None  # not compared: the run failed
    if run.error is None:  # the outputs nbval would compare must be the same in every variant (make test's run is one)
        import nbformat

        from resblock.nbcompare import output_differences

        differences = output_differences(nbformat.read(executed, as_version=4), path)
    return {
        "seconds": run.seconds,
        "peak_rss_mb": run.peak_rss_mb,
        "claims": claims,
        "error": run.error,
        "differences": differences,
    }


def collect(runs: dict[str, dict[str, dict]]) -> list[dict]:
    """One row per (notebook, claim): its criterion and, per variant, whether it held and what was measured."""
    rows: dict[tuple[str, str], dict] = {}
    for variant, per_nb in runs.items():
        for nb, run in per_nb.items():
            for c in run["claims"]:
                row = rows.setdefault(
                    (nb, c["claim"]), {"notebook": nb, "claim": c["claim"], "criterion": c["criterion"], "results": {}}
                )
                row["results"].setdefault(variant, []).append({"holds": c["holds"], "measured": c["measured"]})
    # In notebook order, each notebook's claims in the order it checks them (a stable sort), whichever
    # notebooks were run now and whichever were kept from an earlier report (--update).
    return sorted(rows.values(), key=lambda row: row["notebook"])


def summary_markdown(report: dict) -> str:
    """A short readable table of the sweep: every claim, its criterion and the value measured in each variant."""
    variants = [v["name"] for v in report["variants"]]
    m = report["machine"]
    # The instruction set names the sweep: each machine's native kernels and the older set it emulates.
    kind = "AVX-512" if m.get("avx512") else "AVX2" if m.get("avx2") else "pre-AVX2"
    lines = [
        f"# Claims sweep, {kind} machine",
        "",
        f"Made {report['created']} by `{report['command']}` on {m['cpu']} "
        f"({m['cores']} cores; torch {m['torch']}). "
        f"{report['summary']['claims']} claims, {report['summary']['checks']} checks: "
        f"{report['summary']['failed']} failed, {report['summary']['notebook_errors']} notebook errors, "
        f'{report["summary"].get("runs_missing", 0)} notebook runs not made ("not run" below); '
        f"{report['summary'].get('outputs_differ', 0)} runs whose compared outputs differ from the committed "
        "notebook's (nbval's rules: resblock.nbcompare), "
        f"{report['summary'].get('outputs_not_compared', 0)} runs not compared (failed, or from before the "
        "sweep compared outputs).",
        "",
        "Variants: "
        + "; ".join(
            f"`{v['name']}` (seed {v['seed']}, {v['threads']} thread{'s' if v['threads'] > 1 else ''}, "
            f"{v['arithmetic']} arithmetic)"
            for v in report["variants"]
        ),
        "",
        "| notebook | claim | criterion | " + " | ".join(variants) + " |",
        "|---|---|---|" + "---|" * len(variants),
    ]
    for row in report["claims"]:
        cells = []
        for v in variants:
            rs = row["results"].get(v)
            cells.append(
                "not run" if rs is None else ", ".join(("✓ " if r["holds"] else "✗ ") + r["measured"] for r in rs)
            )
        claim, criterion = (t.replace("|", "\\|") for t in (row["claim"], row["criterion"] or "true"))
        lines.append(f"| {row['notebook'][:2]} | {claim} | {criterion} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Run time of each notebook (seconds):",
        "",
        "| notebook | " + " | ".join(variants) + " |",
        "|---|" + "---|" * len(variants),
    ]
    for nb in report["notebooks"]:
        lines.append(
            f"| {nb} | "
            + " | ".join(str(report["runs"].get(v, {}).get(nb, {}).get("seconds", "-")) for v in variants)
            + " |"
        )
    errors = [(v, nb, r["error"]) for v, per in report["runs"].items() for nb, r in per.items() if r["error"]]
    if errors:
        lines += ["", "Notebook errors:", ""] + [f"- `{v}` {nb}: {e}" for v, nb, e in errors]
    differ = [
        (v, nb, d) for v, per in report["runs"].items() for nb, r in per.items() for d in r.get("differences") or []
    ]
    if differ:
        lines += ["", "Compared outputs that differ from the committed notebook's:", ""]
        lines += [f"- `{v}` {nb}:\n\n```\n{d}\n```" for v, nb, d in differ]
    return "\n".join(lines) + "\n"


def build_report(
    runs: dict[str, dict[str, dict]],
    variants: list[Variant],
    notebooks: list[Path],
    earlier: dict | None,
    wall_time_s: float,
    command: str,
) -> dict:
    """The sweep's report from the runs so far, folding in ``earlier``'s notebooks that were not run now."""
    import copy

    import torch  # only for the report's versions

    runs = copy.deepcopy(runs)
    if earlier is not None:
        # Fold in every (variant, notebook) run of the earlier report that was not run again now.
        kept = set()
        for variant, per in earlier["runs"].items():
            for nb, r in per.items():
                if variant in runs and nb not in runs[variant]:
                    runs[variant][nb] = {
                        "seconds": r["seconds"],
                        "error": r["error"],
                        "claims": [],
                        "differences": r.get("differences"),  # None: that run was not compared
                    }
                    kept.add((variant, nb))
        for row in earlier["claims"]:
            for variant, results in row["results"].items():
                if (variant, row["notebook"]) in kept:
                    runs[variant][row["notebook"]]["claims"] += [
                        {"claim": row["claim"], "criterion": row["criterion"], **r} for r in results
                    ]
        notebooks = sorted({*notebooks, *(NOTEBOOKS_DIR / nb for nb in earlier["notebooks"])})
    claims = collect(runs)
    checks = sum(len(rs) for row in claims for rs in row["results"].values())
    failed = sum(not r["holds"] for row in claims for rs in row["results"].values() for r in rs)
    errors = sum(bool(r["error"]) for per in runs.values() for r in per.values())
    not_run = sum(nb.name not in runs[v.name] for v in variants for nb in notebooks)
    differ = sum(bool(r.get("differences")) for per in runs.values() for r in per.values())
    not_compared = sum(r.get("differences") is None for per in runs.values() for r in per.values())
    return {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "machine": {
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "avx512": "avx512f" in cpu_flags(),
            "avx2": "avx2" in cpu_flags(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "system": f"{platform.system()} {platform.machine()}",
        },
        "variants": [
            {"name": v.name, "seed": v.seed, "threads": v.threads, "arithmetic": v.arithmetic_name, "env": v.env()}
            for v in variants
        ],
        "notebooks": [p.name for p in notebooks],
        "wall_time_s": round(wall_time_s, 1),
        "summary": {
            "claims": len(claims),
            "checks": checks,
            "failed": failed,
            "notebook_errors": errors,
            "runs_missing": not_run,
            "outputs_differ": differ,  # runs whose compared outputs differ from the committed notebook's
            "outputs_not_compared": not_compared,  # runs that failed, or from a report made before comparing
        },
        "claims": claims,
        "runs": {
            v: {
                nb: {
                    "seconds": r["seconds"],
                    "error": r["error"],
                    "claims": len(r["claims"]),
                    "differences": r.get("differences"),
                }
                for nb, r in per.items()
            }
            for v, per in runs.items()
        },
    }


def write_report(report: dict, out: Path) -> None:
    """results/claims_sweep.json and its readable .md beside it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    out.with_suffix(".md").write_text(summary_markdown(report))


def main(argv: list[str] | None = None) -> int:
    """Run the sweep, write results/claims_sweep.json and .md, and print the summary."""
    parser = argparse.ArgumentParser(prog="python -m resblock.claims_sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", nargs="+", help="notebook numbers to run (default: all), e.g. 03 07")
    parser.add_argument("--variants", nargs="+", help="variant names to run (default: all of them)")
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS_DIR / "claims_sweep.json",
        help="the JSON report (a .md summary is written beside it)",
    )
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per notebook cell")
    parser.add_argument(
        "--update",
        action="store_true",
        help="keep the results already in --out; replace only the (variant, notebook) runs made now",
    )
    args = parser.parse_args(argv)
    variants = default_variants()
    if args.variants:
        known = {v.name: v for v in variants}
        unknown = [v for v in args.variants if v not in known]
        if unknown:
            print(f"unknown variants {unknown}; this CPU's variants are {sorted(known)}", file=sys.stderr)
            return 2
        variants = [known[v] for v in args.variants]
    notebooks = find_notebooks(args.notebooks)

    earlier, reported = None, variants
    if args.update and args.out.exists():
        earlier = json.loads(args.out.read_text())
        # The report keeps the earlier report's variants; those chosen now must be among them.
        names = [v["name"] for v in earlier["variants"]]
        if not {v.name for v in variants} <= set(names) or not set(names) <= {v.name for v in default_variants()}:
            print(f"--update: {args.out} was made with other variants; run them all again", file=sys.stderr)
            return 2
        reported = [v for v in default_variants() if v.name in names]
    command = "python -m resblock.claims_sweep" + "".join(" " + a for a in (sys.argv[1:] if argv is None else argv))
    start = time.perf_counter()
    runs: dict[str, dict[str, dict]] = {v.name: {} for v in reported}
    lock = threading.Lock()

    def sweep(variant: Variant, workdir: Path, core: int = 0) -> None:
        for nb in notebooks:
            run = run_notebook(nb, variant, workdir, timeout=args.timeout, core=core)
            with lock:  # the report on disk keeps every run so far: an interrupted sweep loses only the one in hand
                runs[variant.name][nb.name] = run
                write_report(
                    build_report(runs, reported, notebooks, earlier, time.perf_counter() - start, command), args.out
                )
            failed = sum(not c["holds"] for c in run["claims"])
            print(
                f"[{variant.name}] {nb.name}: {run['seconds']:.0f} s, {len(run['claims'])} claims, {failed} failed"
                + (f", ERROR: {run['error']}" if run["error"] else ""),
                flush=True,
            )

    with tempfile.TemporaryDirectory(prefix="claims-sweep-") as tmp:
        # One-thread variants run two at a time, each pinned to its own core (when there are two);
        # the others run alone, so each variant sees the machine it describes.
        single = [v for v in variants if v.threads == 1] if (os.cpu_count() or 1) >= 2 else []
        for pair in (single[i : i + 2] for i in range(0, len(single), 2)):
            with ThreadPoolExecutor(len(pair)) as pool:
                list(pool.map(lambda vc: sweep(vc[0], Path(tmp), core=vc[1]), zip(pair, range(len(pair)))))
        for variant in (v for v in variants if v not in single):
            sweep(variant, Path(tmp))
    report = build_report(runs, reported, notebooks, earlier, time.perf_counter() - start, command)
    write_report(report, args.out)
    summary = report["summary"]
    print(
        f"\n{summary['claims']} claims, {summary['checks']} checks, {summary['failed']} failed, "
        f"{summary['notebook_errors']} notebook errors, {summary['outputs_differ']} runs with differing outputs "
        f"in {report['wall_time_s'] / 60:.1f} minutes; "
        f"wrote {args.out} and {args.out.with_suffix('.md')}"
    )
    failed = summary["failed"] or summary["notebook_errors"] or summary["runs_missing"] or summary["outputs_differ"]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
