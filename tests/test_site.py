"""The static site (`make site`, docs/site/build.py): built from the committed notebooks without executing them.

Checked against the notebooks themselves: every notebook has a page; every figure a cell saved is
on its page, with alt text and an opaque background; every notebook page links to Binder and to
Colab at that notebook, from the repository address in README; no internal link or anchor is
broken; widget outputs show their saved picture or a snapshot of their saved state, never a raw
repr; the site loads nothing from a network (MathJax ships with it). The browser half (axe-core,
equations typeset offline, screenshots) is tests/browser/test_site_a11y.py.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
RAW_WIDGET_REPR = re.compile(r"\b(HBox|VBox|Box|FloatProgress|IntProgress|ToggleButton)\((children|value)=")


def _load_build():
    spec = importlib.util.spec_from_file_location("site_build", ROOT / "docs" / "site" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def build():
    return _load_build()


@pytest.fixture(scope="module")
def site(build, tmp_path_factory) -> Path:
    pytest.importorskip("myst_nb", reason="the docs dependencies are missing: pip install -r docs/requirements.txt")
    return build.build(tmp_path_factory.mktemp("site") / "html", quiet=True)


class Page(HTMLParser):
    """The parts of a page the tests read: links, images, ids, scripts, and each notebook cell's output."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.links, self.images, self.ids, self.resources = [], [], set(), []
        self.cells: list[dict] = []  # per code cell: its output's images and text
        self._div_stack: list[str] = []
        self._text: list[str] = []
        self.feed(text)

    def _in(self, kind: str) -> bool:
        return kind in self._div_stack

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        if tag == "a" and "name" in a:
            self.ids.add(a["name"])
        if tag == "img":
            self.images.append(a)
            if self._in("cell_output"):
                self.cells[-1]["images"].append(a)
        if tag == "script" and a.get("src"):
            self.resources.append(a["src"])
        if tag == "link" and a.get("rel") in ("stylesheet", "preload") and a.get("href"):
            self.resources.append(a["href"])
        if tag == "div":
            classes = a.get("class", "").split()
            kind = "cell" if "cell" in classes else "cell_output" if "cell_output" in classes else "div"
            if kind == "cell":
                self.cells.append({"images": [], "text": []})
            self._div_stack.append(kind)

    def handle_endtag(self, tag):
        if tag == "div" and self._div_stack:
            self._div_stack.pop()

    def handle_data(self, data):
        if self._in("cell_output") and self.cells:
            self.cells[-1]["text"].append(data)
        self._text.append(data)

    @property
    def text(self) -> str:
        return "".join(self._text)


def _page(site: Path, rel: str) -> Page:
    return Page((site / rel).read_text(encoding="utf-8"))


def _code_cells(nb_path: Path) -> list[dict]:
    return [c for c in json.loads(nb_path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]


def _pictures(cell: dict) -> int:
    return sum(1 for o in cell.get("outputs", []) if "image/png" in o.get("data", {}))


def test_every_notebook_has_a_page(site):
    assert NOTEBOOKS, "no notebooks found"
    for nb in NOTEBOOKS:
        assert (site / "notebooks" / f"{nb.stem}.html").is_file(), f"no page for {nb.name}"
    assert (site / "index.html").is_file() and (site / "docs" / "teaching.html").is_file()
    assert (site / "docs" / "performance.html").is_file()
    assert (site / "search.html").is_file() and "degradation" in (site / "searchindex.js").read_text()


def test_landing_page_is_the_readme_map_and_links_every_page(site):
    index = _page(site, "index.html")
    assert "The notebooks" in index.text and "you leave knowing" in index.text
    targets = {urlsplit(h).path for h in index.links}
    for nb in NOTEBOOKS:
        assert f"notebooks/{nb.stem}.html" in targets, f"the landing page does not link {nb.name}"
    assert "docs/teaching.html" in targets and "docs/performance.html" in targets


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_figure_is_on_its_page_with_alt_text_and_a_white_background(site, nb):
    from PIL import Image

    page = _page(site, f"notebooks/{nb.stem}.html")
    cells = _code_cells(nb)
    assert len(page.cells) == len(cells), "the page's cells do not line up with the notebook's code cells"
    for i, (cell, shown) in enumerate(zip(cells, page.cells)):
        want = _pictures(cell)
        assert len(shown["images"]) >= want, f"code cell {i}: {want} figures saved, {len(shown['images'])} on the page"
        for img in shown["images"]:
            alt = img.get("alt", "")
            assert alt and not alt.endswith(".png"), f"code cell {i}: a figure without alt text ({alt!r})"
            src = img["src"]
            data = (
                base64.b64decode(src.split(",", 1)[1])
                if src.startswith("data:")
                else (site / "notebooks" / unquote(src)).read_bytes()
            )
            corner = Image.open(io.BytesIO(data)).convert("RGBA").getpixel((0, 0))
            assert corner[3] == 255, (
                f"code cell {i}: a figure with a transparent background (unreadable in a dark theme)"
            )


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_page_launches_that_notebook_on_binder_and_colab(site, build, nb):
    repo = build.repository_url()
    links = build.launch_links(repo, f"notebooks/{nb.name}")
    page = _page(site, f"notebooks/{nb.stem}.html")
    assert links["binder"] in page.links and links["colab"] in page.links
    assert (
        links["binder"].startswith("https://mybinder.org/v2/gh/") and "urlpath=lab/tree/notebooks/" in links["binder"]
    )
    assert "Launch on Binder" in page.text and "Open in Colab" in page.text


def test_repository_address_comes_from_readme(build, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("text\n[repository]: https://github.com/someone/fork\n")
    assert build.repository_url(readme) == "https://github.com/someone/fork"
    readme.write_text("no link here\n")
    with pytest.raises(SystemExit, match=r"\[repository\]"):
        build.repository_url(readme)


def test_no_internal_link_or_anchor_is_broken(site):
    # every page Sphinx wrote (the theme's template snippets under _static/ are not pages)
    pages = {p: _page(site, p.relative_to(site).as_posix()) for p in site.rglob("*.html") if "_static" not in p.parts}
    broken = []
    for path, page in pages.items():
        for ref in page.links + [i["src"] for i in page.images] + page.resources:
            parts = urlsplit(ref)
            if parts.scheme or ref.startswith(("//", "mailto:", "javascript:")):
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if not target.exists():
                broken.append(f"{path.relative_to(site)} -> {ref}")
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in pages[target].ids:
                broken.append(f"{path.relative_to(site)} -> {ref} (no such anchor)")
    assert not broken, "\n".join(broken[:20])


def test_the_site_loads_nothing_from_a_network(site):
    for path in (p for p in site.rglob("*.html") if "_static" not in p.parts):
        remote = [r for r in _page(site, path.relative_to(site).as_posix()).resources if urlsplit(r).scheme]
        assert not remote, f"{path.relative_to(site)} loads {remote}"
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file(), "MathJax is not shipped with the site"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_widget_outputs_show_their_saved_picture_never_a_raw_repr(site, build, nb):
    notebook = json.loads(nb.read_text(encoding="utf-8"))
    models = notebook.get("metadata", {}).get("widgets", {}).get(build.WIDGET_STATE, {}).get("state", {})
    page = _page(site, f"notebooks/{nb.stem}.html")
    for i, (cell, shown) in enumerate(zip(_code_cells(nb), page.cells)):
        views = [o["data"] for o in cell.get("outputs", []) if WIDGET_VIEW in o.get("data", {})]
        if not views:
            continue
        text = "".join(shown["text"])
        assert not RAW_WIDGET_REPR.search(text), f"code cell {i} shows a widget's raw repr"
        assert "saved no picture" not in text, f"code cell {i}: a widget with neither a picture nor saved state"
        for data in views:
            model_id = data[WIDGET_VIEW]["model_id"]
            assert "image/png" in data or model_id in models, (
                f"code cell {i}: widget {model_id} has no saved picture or state"
            )
            # a widget that holds an image (the dashboard's curves) shows it
            if model_id in models and _holds_image(models, model_id):
                assert shown["images"], f"code cell {i}: the widget's picture is missing from the page"


def _holds_image(models: dict, ref: str) -> bool:
    m = models.get(ref.removeprefix("IPY_MODEL_"))
    if not m:
        return False
    if m.get("model_name") == "ImageModel":
        return True
    return any(_holds_image(models, c) for c in m.get("state", {}).get("children", []))


def test_render_widget_from_saved_state(build):
    """The snapshot renderer on a hand-made state: a box with a label, a pressed toggle, a progress bar, an image."""
    png = base64.b64encode(b"\x89PNG fake").decode()
    models = {
        "box": {
            "model_name": "VBoxModel",
            "state": {"children": ["IPY_MODEL_t", "IPY_MODEL_p", "IPY_MODEL_i", "IPY_MODEL_d"]},
        },
        "t": {
            "model_name": "ToggleButtonModel",
            "state": {"description": "13", "value": True, "tooltip": "delete block 13"},
        },
        "p": {
            "model_name": "FloatProgressModel",
            "state": {"value": 0.5, "min": 0, "max": 1, "description": "progress"},
        },
        "i": {
            "model_name": "ImageModel",
            "state": {"format": "png"},
            "buffers": [{"path": ["value"], "encoding": "base64", "data": png}],
        },
        "d": {
            "model_name": "DropdownModel",
            "state": {"description": "depth", "index": 1, "_options_labels": ["8", "14"]},
        },
    }
    out = build.render_widget(models, "box", alt="the curves")
    assert 'aria-pressed="true"' in out and 'title="delete block 13"' in out
    assert '<progress value="0.5" max="1"' in out
    assert f'src="data:image/png;base64,{png}" alt="the curves"' in out
    assert "depth</span>" in out and ">14</span>" in out
    assert build.render_widget(models, "missing", alt="") == ""
