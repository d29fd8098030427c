"""The Binder set-up, checked statically: what repo2docker reads, and the README's launch link.

repo2docker (mybinder.org) uses only `binder/` when that folder exists. The environment must be
CPU-only PyTorch (a CUDA build pushes the image past Binder's limits), the dataset comes from the
Debian/Ubuntu package in `apt.txt`, `postBuild` installs the package, and the README's badge opens
JupyterLab (not the classic interface) on the start notebook. Pins agreeing with requirements.txt
is tests/test_environments.py's job.
"""

import os
import re
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
START_NOTEBOOK = "notebooks/00_start_here.ipynb"
# Files repo2docker acts on (its buildpacks' config files); anything else in binder/ is ignored by it.
REPO2DOCKER_FILES = {
    "environment.yml", "requirements.txt", "apt.txt", "postBuild", "start", "runtime.txt",
    "install.R", "DESCRIPTION", "Project.toml", "REQUIRE", "setup.py", "Pipfile", "Pipfile.lock",
    "default.nix", "Dockerfile",
}  # fmt: skip


def _lines(path: Path) -> list[str]:
    """Non-empty lines without comments."""
    return [ln.split("#", 1)[0].strip() for ln in path.read_text().splitlines() if ln.split("#", 1)[0].strip()]


def test_binder_folder_holds_the_files_repo2docker_reads():
    present = {p.name for p in BINDER.iterdir()}
    assert {"environment.yml", "apt.txt", "postBuild"} <= present, f"binder/ has only {sorted(present)}"
    assert not present & {"Dockerfile", "requirements.txt"}, (
        "binder/Dockerfile or binder/requirements.txt would replace or compete with environment.yml"
    )
    ignored = present - REPO2DOCKER_FILES - {"README.md"}
    assert not ignored, f"repo2docker ignores {sorted(ignored)}: move them out of binder/"


def test_binder_environment_is_cpu_only_pytorch_from_conda_forge():
    yml = "\n".join(ln.split("#", 1)[0] for ln in (BINDER / "environment.yml").read_text().splitlines())
    deps = re.findall(r"^\s*-\s*([A-Za-z0-9_.-]+)", yml.split("dependencies:", 1)[1], re.M)
    assert "pytorch-cpu" in deps, "binder/environment.yml must ask for conda-forge's pytorch-cpu"
    assert not {"pytorch", "torch", "pytorch-gpu", "torchvision"} & set(deps), f"a non-CPU PyTorch in {deps}"
    assert "cuda" not in yml.lower(), "binder/environment.yml mentions CUDA: Binder has no GPU"
    assert re.search(r"^channels:\s*\n\s*-\s*conda-forge\s*$", yml, re.M), "conda-forge must be the channel"
    assert re.search(r"^\s*-\s*python=3\.1[12]\b", yml, re.M), "pin python=3.11 or 3.12 (Binder defaults to 3.10)"
    # `-e .` in the yml's pip section copies the repository before the solve: every commit rebuilds it.
    assert not re.search(r"-e\s+\.", yml), "install the package in binder/postBuild, not in environment.yml"


def test_apt_txt_installs_the_dataset():
    assert "dataset-fashion-mnist" in _lines(BINDER / "apt.txt")


def test_postbuild_is_an_executable_script_that_installs_the_package():
    post = BINDER / "postBuild"
    assert os.access(post, os.X_OK), "binder/postBuild must be executable (chmod +x; git keeps the bit)"
    lines = post.read_text().splitlines()
    assert lines and lines[0].startswith("#!"), "binder/postBuild needs a shebang line"
    commands = _lines(post)
    assert commands and commands[0] == "set -e", "binder/postBuild must start with `set -e` (stop on errors)"
    assert any(re.fullmatch(r"(python3? -m )?pip install( --\S+)* (-e )?\.(\[[\w,]+\])?", c) for c in commands), (
        f"binder/postBuild must pip install the package from the repository; it runs {commands}"
    )
    assert not any(c.startswith("sudo") or "apt-get" in c for c in commands), (
        "postBuild runs without root: system packages go in apt.txt"
    )


def test_postbuild_bit_is_committed():
    """Git, not just this checkout, must record postBuild as executable (mode 100755)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-s", "binder/postBuild"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    if not out:
        pytest.skip("binder/postBuild is not committed yet")
    assert out.split()[0] == "100755", (
        f"git records binder/postBuild as {out.split()[0]}; run git update-index --chmod=+x"
    )


def _readme_binder_links() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    return re.findall(r"https://mybinder\.org/v2/[^\s)\]>\"']+", readme)


def test_readme_binder_link_opens_jupyterlab_on_the_start_notebook():
    links = _readme_binder_links()
    assert links, (
        "README.md has no Binder launch link; add one like "
        f"https://mybinder.org/v2/gh/ORG/REPO/main?urlpath=lab/tree/{START_NOTEBOOK}"
    )
    for link in links:
        parts = urlsplit(link)
        assert re.fullmatch(r"/v2/gh/[\w.-]+/[\w.-]+/[\w./-]+", parts.path), (
            f"{link}: expected https://mybinder.org/v2/gh/ORG/REPO/BRANCH?urlpath=..."
        )
        urlpath = parse_qs(parts.query).get("urlpath", [None])[0]
        # `urlpath=/tree/...` opens the Notebook 7 interface instead; `lab/tree/...` opens JupyterLab.
        assert urlpath in (f"lab/tree/{START_NOTEBOOK}", f"/lab/tree/{START_NOTEBOOK}"), (
            f"{link} opens {urlpath!r}; it should open JupyterLab on the start notebook: "
            f"?urlpath=lab/tree/{START_NOTEBOOK}"
        )


def test_start_notebook_exists():
    assert (ROOT / START_NOTEBOOK).exists(), f"the Binder link opens {START_NOTEBOOK}, which does not exist"


def test_binder_link_points_at_the_readmes_repository():
    """The badge and the `[repository]` address in the README name the same GitHub repository."""
    readme = (ROOT / "README.md").read_text()
    repo = re.search(r"^\[repository\]:\s*https://github\.com/([\w.-]+/[\w.-]+?)/?\s*$", readme, re.M)
    if repo is None:
        pytest.fail("README.md has no `[repository]: https://github.com/ORG/REPO` line to keep the address in")
    for link in _readme_binder_links():
        assert f"/v2/gh/{repo.group(1)}/" in link, f"{link} does not launch {repo.group(1)}"
