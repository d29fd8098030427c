"""Build the course's static site from the committed notebooks, without executing them: `make site`.

Sphinx with MyST-NB renders the pages (docs/site/conf.py). This script only lays out their sources
in build/site-src and prepares each notebook's copy for a reader who has no kernel:

* a "Launch on Binder" and an "Open in Colab" link at the top of every notebook page, built from the
  repository address that README keeps in one place (its ``[repository]:`` link definition);
* a widget output is shown as the picture its cell saved (the explorer's figure), and otherwise as
  a static rendering of the widget's saved state (the dashboard's final curves, the lesion toggles
  and read-out, a finished progress bar): never an empty box or an ``HBox(...)`` repr. The live
  widget needs a kernel (its callbacks are Python), so the site does not load a widget manager
  from a CDN; the Binder and Colab links run the real thing;
* every figure gets alt text: the cell's own (``metadata.mystnb.image.alt``) or its section's
  heading with the lines the cell printed (the checked claims).

Usage: python docs/site/build.py [--out build/site] [--branch main]
"""

from __future__ import annotations

import argparse
import base64
import copy
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
SNAPSHOT_NOTE = "A snapshot of an interactive widget as the notebook left it; launch the notebook to use it."


def repository_url(readme: Path = ROOT / "README.md") -> str:
    """The repository address from README's ``[repository]: URL`` link definition."""
    m = re.search(r"^\[repository\]:\s*(\S+)\s*$", readme.read_text(encoding="utf-8"), re.MULTILINE)
    if not m:
        raise SystemExit(f"{readme} has no '[repository]: https://github.com/ORG/REPO' line; add it at the bottom.")
    url = m.group(1).rstrip("/")
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        raise SystemExit(f"README's [repository] must be https://github.com/ORG/REPO, got {url!r}.")
    return url


def launch_links(repo: str, path: str, branch: str = "main") -> dict[str, str]:
    """Binder (JupyterLab on the notebook) and Colab addresses for the notebook at ``path`` in the repository."""
    org_repo = repo.removeprefix("https://github.com/")
    return {
        "binder": f"https://mybinder.org/v2/gh/{org_repo}/{branch}?urlpath=lab/tree/{path}",
        "colab": f"https://colab.research.google.com/github/{org_repo}/blob/{branch}/{path}",
    }


# --- widgets: a static rendering of the saved state -----------------------------------------------


def _model_state(models: dict, ref) -> dict | None:
    if isinstance(ref, str) and ref.startswith("IPY_MODEL_"):
        ref = ref[len("IPY_MODEL_") :]
    m = models.get(ref)
    return m if m else None


def _image_src(model: dict) -> str | None:
    state = model["state"]
    for buf in model.get("buffers", []):
        if buf.get("path") == ["value"]:
            data = buf["data"] if buf.get("encoding") == "base64" else base64.b64encode(buf["data"].encode()).decode()
            return f"data:image/{state.get('format', 'png')};base64,{data}"
    value = state.get("value")
    if isinstance(value, str) and value:
        return f"data:image/{state.get('format', 'png')};base64,{value}"
    return None


def render_widget(models: dict, ref, alt: str) -> str:
    """Static HTML for the widget ``ref`` from the saved widget state ``models`` ('' when it is not there)."""
    model = _model_state(models, ref)
    if model is None:
        return ""
    name, s = model.get("model_name", ""), model.get("state", {})
    desc = html.escape(str(s.get("description", "") or ""))
    classes = " ".join(html.escape(c) for c in s.get("_dom_classes", []))
    label = f'<span class="rb-w-desc">{desc}</span> ' if desc else ""
    if name in ("VBoxModel", "HBoxModel", "BoxModel", "GridBoxModel", "AccordionModel", "TabModel"):
        kind = "rb-w-hbox" if name == "HBoxModel" else "rb-w-vbox"
        inner = "".join(render_widget(models, c, alt) for c in s.get("children", []))
        return f'<div class="{kind} {classes}">{inner}</div>'
    if name in ("HTMLModel", "HTMLMathModel"):
        return f'<div class="rb-w-html {classes}">{label}{s.get("value", "")}</div>'
    if name == "LabelModel":
        return f'<span class="rb-w-label {classes}">{label}{html.escape(str(s.get("value", "")))}</span>'
    if name == "ImageModel":
        src = _image_src(model)
        return f'<img class="rb-w-image {classes}" src="{src}" alt="{html.escape(alt)}">' if src else ""
    if name in ("FloatProgressModel", "IntProgressModel"):
        v, lo, hi = s.get("value", 0), s.get("min", 0), s.get("max", 100)
        text = desc or "progress"
        return (
            f'<span class="rb-w-progress {classes}">{label}<progress value="{v - lo}" max="{hi - lo}" '
            f'aria-label="{text}">{v}</progress></span>'
        )
    if name in ("ButtonModel", "ToggleButtonModel"):
        pressed = f' aria-pressed="{str(bool(s.get("value"))).lower()}"' if name == "ToggleButtonModel" else ""
        tip = s.get("tooltip") or desc or "button"
        return (
            f'<button type="button" class="rb-w-button {classes}" disabled{pressed} '
            f'title="{html.escape(str(tip))}">{desc or html.escape(str(tip))}</button>'
        )
    if name == "ToggleButtonsModel":
        labels, index = s.get("_options_labels", []), s.get("index")
        buttons = "".join(
            f'<button type="button" class="rb-w-button" disabled aria-pressed="{str(i == index).lower()}">'
            f"{html.escape(str(o))}</button>"
            for i, o in enumerate(labels)
        )
        return f'<span class="rb-w-control {classes}" role="group" aria-label="{desc}">{label}{buttons}</span>'
    if name == "OutputModel":
        parts = []
        for out in s.get("outputs", []):
            data = out.get("data", {})
            if out.get("output_type") == "stream":
                parts.append(f"<pre>{html.escape(out.get('text', ''))}</pre>")
            elif "image/png" in data:
                parts.append(f'<img src="data:image/png;base64,{data["image/png"]}" alt="{html.escape(alt)}">')
            elif "text/html" in data:
                parts.append("".join(data["text/html"]) if isinstance(data["text/html"], list) else data["text/html"])
            elif "text/plain" in data:
                parts.append(f"<pre>{html.escape(''.join(data['text/plain']))}</pre>")
        return f'<div class="rb-w-output {classes}">{"".join(parts)}</div>'
    if "value" in s or "index" in s:  # sliders, dropdowns, checkboxes, text boxes: "description: value"
        value = s.get("value")
        if "_options_labels" in s and s.get("index") is not None:
            index = s["index"]
            value = (
                ", ".join(s["_options_labels"][i] for i in index)
                if isinstance(index, list)
                else s["_options_labels"][index]
            )
        if isinstance(value, bool):
            value = "on" if value else "off"
        return f'<span class="rb-w-control {classes}">{label}<span class="rb-w-value">{html.escape(str(value))}</span></span>'
    return ""


def _static_widget_output(models: dict, data: dict, alt: str) -> dict | None:
    """Replace a widget view's mime bundle with something a reader without a kernel can see."""
    if "image/png" in data or "image/svg+xml" in data:  # the widget displayed a picture of itself (the explorer)
        return {k: v for k, v in data.items() if k != WIDGET_VIEW}
    body = render_widget(models, data[WIDGET_VIEW].get("model_id", ""), alt)
    if not body:
        return None
    # the note only where there is something to operate (not on a finished progress bar)
    note = f'<p class="rb-widget-note">{SNAPSHOT_NOTE}</p>' if re.search(r"rb-w-(button|control)", body) else ""
    return {"text/html": f'<div class="rb-widget-static" role="group" aria-label="widget snapshot">{note}{body}</div>'}


# --- notebooks ------------------------------------------------------------------------------------


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else source


def _alt_text(heading: str, cell: dict) -> str:
    """A figure's text equivalent: its section and what the cell printed next to it (its claims)."""
    printed = [
        _text(o.get("text", ""))
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream" and o.get("name") == "stdout"
    ]
    lines = [ln.strip() for ln in "".join(printed).splitlines() if ln.strip()][:4]
    alt = f"Figure in '{heading}'" if heading else "Figure"
    return alt + (": " + " / ".join(lines) if lines else "")


def prepare_notebook(src: Path, dst: Path, repo: str, branch: str) -> dict:
    """Copy ``src`` to ``dst`` ready for the site; returns counts of what was done, for the log and the tests."""
    nb = json.loads(src.read_text(encoding="utf-8"))
    models = nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    nb.get("metadata", {}).pop("widgets", None)  # no widget manager on the site (see the module docstring)
    rel = src.relative_to(ROOT).as_posix()
    links = launch_links(repo, rel, branch)
    banner = {
        "cell_type": "markdown",
        "metadata": {},
        "id": "resblock-launch-links",
        "source": (
            f'<p class="rb-launch">Run this notebook: <a href="{links["binder"]}">Launch on Binder</a>'
            f' · <a href="{links["colab"]}">Open in Colab</a></p>'
        ),
    }
    counts = {"figures": 0, "widgets": 0, "widgets_without_state": 0}
    heading = ""
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            # README is the site's landing page, index
            cell["source"] = re.sub(r"\]\(\.\./README\.md(#[^)]*)?\)", r"](../index.md\1)", _text(cell["source"]))
            heads = re.findall(r"^#{1,4}\s+(.+)$", _text(cell["source"]), re.MULTILINE)
            heading = heads[-1].strip() if heads else heading
            continue
        if cell["cell_type"] != "code":
            continue
        alt = cell.get("metadata", {}).get("mystnb", {}).get("image", {}).get("alt") or _alt_text(heading, cell)
        outputs = []
        for out in cell.get("outputs", []):
            data = out.get("data")
            if data and WIDGET_VIEW in data:
                counts["widgets"] += 1
                new = _static_widget_output(models, data, alt)
                if new is None:
                    counts["widgets_without_state"] += 1
                    new = {
                        "text/html": '<p class="rb-widget-note">An interactive widget: launch the notebook to use it '
                        "(this copy saved no picture of it).</p>"
                    }
                out = {**copy.deepcopy(out), "data": new}
            if out.get("data") and ("image/png" in out["data"] or "image/svg+xml" in out["data"]):
                counts["figures"] += 1
            outputs.append(out)
        if "outputs" in cell:
            cell["outputs"] = outputs
        if any("image/png" in o.get("data", {}) for o in outputs):
            cell.setdefault("metadata", {}).setdefault("mystnb", {}).setdefault("image", {})["alt"] = alt
    # the banner goes after the title cell, so the page's title stays its first heading
    nb["cells"].insert(1 if nb["cells"] and nb["cells"][0]["cell_type"] == "markdown" else 0, banner)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")
    return counts


def landing_page(repo: str, notebooks: list[Path]) -> str:
    """README as the landing page, with a hidden table of contents for the navigation."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    toc = "\n".join(f"notebooks/{p.stem}" for p in notebooks)
    return (
        readme + "\n\n```{toctree}\n:hidden:\n:caption: The notebooks\n\n" + toc + "\n```\n\n"
        "```{toctree}\n:hidden:\n:caption: For teachers\n\ndocs/teaching\ndocs/performance\nresults/claims_sweep\nresults/claims_sweep_avx512\n```\n"
    )


def build(out: Path, branch: str = "main", quiet: bool = False) -> Path:
    """Lay out the sources in build/site-src and run Sphinx into ``out``; returns ``out``."""
    repo = repository_url()
    src = out.parent / f"{out.name}-src"
    shutil.rmtree(src, ignore_errors=True)
    (src / "docs").mkdir(parents=True)
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise SystemExit("no notebooks found in notebooks/ (NN_name.ipynb).")
    report = {}
    for nb in notebooks:
        report[nb.name] = prepare_notebook(nb, src / "notebooks" / nb.name, repo, branch)
    (src / "index.md").write_text(landing_page(repo, notebooks), encoding="utf-8")
    shutil.copy(ROOT / "docs" / "teaching.md", src / "docs" / "teaching.md")
    shutil.copy(ROOT / "docs" / "performance.md", src / "docs" / "performance.md")
    shutil.copy(ROOT / "LICENSE", src / "LICENSE")
    # The robustness sweeps' tables (make claims; on an AVX2 and an AVX-512 machine), which README links
    # as the source of the prose's ranges.
    (src / "results").mkdir()
    for name in ("claims_sweep.md", "claims_sweep_avx512.md"):
        shutil.copy(ROOT / "results" / name, src / "results" / name)
    (out.parent / f"{out.name}-report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    env = {**os.environ, "RESBLOCK_REPOSITORY": repo, "RESBLOCK_BRANCH": branch}
    cmd = [
        sys.executable,
        "-m",
        "sphinx",
        "-b",
        "html",
        "-c",
        str(HERE),
        "-d",
        str(out.parent / f"{out.name}-doctrees"),
        "-j",
        "1",
        str(src),
        str(out),
    ] + (["-q"] if quiet else [])
    subprocess.run(cmd, check=True, env=env)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site")
    parser.add_argument("--branch", default="main", help="the branch or tag the Binder and Colab links open")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args()
    t0 = time.perf_counter()
    out = build(args.out.resolve(), args.branch, args.quiet)
    print(f"site built in {time.perf_counter() - t0:.0f} s: open {out / 'index.html'}")


if __name__ == "__main__":
    main()
