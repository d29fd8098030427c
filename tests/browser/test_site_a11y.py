"""The static site in headless Chromium, opened from disk: axe-core finds no serious or critical
violation on any page, in the light and the dark theme; equations render and search works offline;
widget snapshots show; a screenshot of each page.

axe-core comes inside the `axe-playwright-python` wheel (docs/requirements.txt); the site is built
into a temporary folder by docs/site/build.py (about 10 s, nothing executed). Screenshots go to
artifacts/site/ (git-ignored), beside the JupyterLab screenshots.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "site"
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PAGES = ["index", "docs/teaching", "docs/performance", *(f"notebooks/{n}" for n in NOTEBOOKS)]
BLOCKING = {"serious", "critical"}

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built from the committed notebooks into a temporary folder."""
    pytest.importorskip("myst_nb", reason="the docs dependencies are missing: pip install -r docs/requirements.txt")
    spec = importlib.util.spec_from_file_location("site_build", ROOT / "docs" / "site" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    return build.build(tmp_path_factory.mktemp("site") / "html", quiet=True)


@pytest.fixture(scope="module")
def axe():
    axe_module = pytest.importorskip(
        "axe_playwright_python.sync_playwright",
        reason="axe-playwright-python is missing: pip install -r docs/requirements.txt",
    )
    return axe_module.Axe()


def _new_page(browser, theme: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    # the theme's light/dark switch keeps its choice in localStorage
    context.add_init_script(f"localStorage.setItem('theme', '{theme}'); localStorage.setItem('mode', '{theme}');")
    page = context.new_page()
    page.route("http*://**", lambda route: route.abort())  # offline: the site must stand without a network
    return context, page


@pytest.fixture(scope="module")
def page(browser):
    context, page = _new_page(browser, "light")
    yield page
    context.close()


@pytest.fixture(scope="module")
def dark_page(browser):
    context, page = _new_page(browser, "dark")
    yield page
    context.close()


def _open(page, site: Path, name: str) -> None:
    page.goto((site / f"{name}.html").as_uri())
    page.wait_for_load_state("load")


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("name", PAGES)
def test_page_has_no_serious_accessibility_violation(page, dark_page, site, axe, name, theme):
    page = dark_page if theme == "dark" else page
    _open(page, site, name)
    page.wait_for_timeout(300)  # MathJax typesets after load
    assert page.evaluate("document.documentElement.dataset.theme") == theme
    SHOTS.mkdir(parents=True, exist_ok=True)
    stem = f"{name.replace('/', '_')}{'' if theme == 'light' else '.dark'}"
    page.screenshot(path=str(SHOTS / f"{stem}.png"), full_page=False)
    results = axe.run(page).response
    blocking = [v for v in results["violations"] if v.get("impact") in BLOCKING]
    (SHOTS / f"{stem}.axe.json").write_text(json.dumps(results["violations"], indent=1))
    assert not blocking, "\n".join(
        f"{v['impact']}: {v['id']} ({v['help']}) at {[n['target'] for n in v['nodes']][:5]}" for v in blocking
    )


def test_equations_render_offline(page, site):
    """Notebook 02 writes its maths in $...$: MathJax, shipped with the site, typesets it with no network."""
    _open(page, site, "notebooks/02_gradient_flow")
    page.wait_for_function("document.querySelectorAll('mjx-container').length > 0", timeout=15000)
    assert page.locator("mjx-container").count() > 5


def test_figures_and_widget_snapshots_are_visible(page, site):
    """Every figure on the widget pages has loaded (not a broken image), and no raw widget repr shows."""
    for name in NOTEBOOKS:
        _open(page, site, f"notebooks/{name}")
        broken = page.evaluate(
            "[...document.images].filter(i => i.closest('.cell_output') && "
            "!(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 80))"
        )
        assert not broken, f"{name}: figures that did not load: {broken}"
        text = page.locator("article").inner_text()
        assert "HBox(children" not in text and "VBox(children" not in text, f"{name} shows a raw widget repr"


def test_search_works_offline(page, site):
    """Sphinx's search runs in the page from searchindex.js: a course word finds the notebook that teaches it."""
    page.goto((site / "search.html").as_uri() + "?q=degradation")
    page.wait_for_function("document.querySelectorAll('#search-results li').length > 0", timeout=15000)
    hits = page.locator("#search-results li a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert any("03_degradation" in h for h in hits), hits
