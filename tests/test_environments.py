"""The pip pins (requirements.txt), environment.yml and binder/environment.yml must agree.

CI tests the pip pins; conda users and Binder get the ymls. A package missing from one, or a
conda range that excludes the pinned version (so a different major version), fails here.
"""

import re
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAME = {"torch": "pytorch-cpu"}  # pip name -> conda-forge name (CPU-only PyTorch)
PIP_ONLY = {"playwright"}  # browser tests only; Binder and conda users do not need them


def pip_pins() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.strip().lower()] = Version(version)
    return pins


def conda_specs(path: Path) -> dict[str, SpecifierSet]:
    """Map each conda dependency to a PEP 440 specifier ("=3.11" becomes "==3.11.*")."""
    specs = {}
    deps = path.read_text().split("dependencies:", 1)[1]
    for m in re.finditer(r"^  - ([A-Za-z0-9_.-]+)\s*([<>=!][^#\s]*)?", deps, re.M):
        name, spec = m.group(1).lower(), (m.group(2) or "")
        spec = re.sub(r"(^|,)=(?!=)([0-9.]+)", r"\1==\2.*", spec)
        specs[name] = SpecifierSet(spec)
    return specs


YMLS = [ROOT / "environment.yml", ROOT / "binder" / "environment.yml"]


@pytest.mark.parametrize("yml", YMLS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_pin_is_in_the_yml_and_allowed_by_it(yml):
    specs = conda_specs(yml)
    for name, version in pip_pins().items():
        if name in PIP_ONLY:
            continue
        conda = CONDA_NAME.get(name, name)
        assert conda in specs, f"{yml.name} lacks {conda} (pinned {name}=={version} in requirements.txt)"
        base = Version(version.base_version)
        assert specs[conda].contains(base), (
            f"{yml.relative_to(ROOT)} asks for {conda}{specs[conda]}, which excludes the pinned "
            f"{name}=={version}: update one of them so they agree"
        )
        assert specs[conda].contains(Version(f"{base.major}.99")) or not specs[conda].contains(
            Version(f"{base.major + 1}.0")
        ), f"{conda}{specs[conda]} allows another major version than the pinned {version}"


@pytest.mark.parametrize("yml", YMLS, ids=lambda p: str(p.relative_to(ROOT)))
def test_yml_has_no_extra_packages_and_a_python_pin(yml):
    specs = conda_specs(yml)
    allowed = {CONDA_NAME.get(n, n) for n in pip_pins()} | {"python", "pip"}
    assert set(specs) <= allowed, f"{yml.name} has packages that requirements.txt lacks: {set(specs) - allowed}"
    assert "python" in specs and str(specs["python"]).startswith("=="), "pin python (Binder defaults to 3.10)"


def test_cpu_only_torch_everywhere():
    for yml in YMLS:
        text = yml.read_text()
        assert "pytorch-cpu" in text and not re.search(r"^\s*-\s*pytorch\s", text, re.M)
        assert "cuda" not in text.lower()


def test_both_ymls_agree():
    local, binder = conda_specs(YMLS[0]), conda_specs(YMLS[1])
    local.pop("pip", None)  # the local yml installs the package with pip; Binder uses postBuild
    assert local == binder
