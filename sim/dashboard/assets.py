"""The dashboard's front-end files, kept on disk so that it works with no internet access.

Solara's page asks its server for a handful of npm packages (the Vuetify app, RequireJS, Font
Awesome, the grid layout SolaraViz uses) and, by default, the server fetches each from a CDN on
first use. `fetch()` fills Solara's own cache folder with them once, from the npm registry
(`npm pack`, so npm's configured registry and proxy apply); the server then never goes online.
The packages and versions are read from the installed Solara, so they follow its upgrades.
"""

from __future__ import annotations

import importlib.resources
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

# Where Solara's pages name a package it loads from the CDN: {{cdn}}/name@version/... or getCdn()}/name@version/...
_CDN_REFERENCE = re.compile(r"(?:\{\{cdn\}\}|getCdn\(\)\})/((?:@[\w.-]+/)?[\w.-]+)@(\d[\w.-]*)/")
# Files of the installed Solara that name the packages every page needs (optional widgets such as
# Markdown's KaTeX load their own, and the dashboard does not use them).
_PAGES = (("solara.server", "templates/solara.html.j2"), ("solara.widgets", "vue/gridlayout.vue"))
NPM_TIMEOUT = 180  # seconds for one package: offline, npm retries for a minute or two before it gives up
_MARKER = ".swapsim-complete"  # written last into each package folder: a half-copied package is not cached


def cache_dir() -> Path:
    """Solara's cache of front-end files: $SOLARA_ASSETS_PROXY_CACHE_DIR, or <environment>/share/solara/cdn."""
    from solara.server import settings

    return Path(settings.assets.proxy_cache_dir)


def required() -> list[tuple[str, str]]:
    """The (package, version) pairs the installed Solara's pages load, sorted."""
    from solara.server import settings

    found = set()
    for package, name in _PAGES:
        text = importlib.resources.files(package).joinpath(name).read_text(encoding="utf-8")
        found |= set(_CDN_REFERENCE.findall(text))
    if settings.assets.fontawesome_enabled:
        found |= set(_CDN_REFERENCE.findall("{{cdn}}" + settings.assets.fontawesome_path))
    return sorted(found)


def missing(folder: Path | None = None) -> list[tuple[str, str]]:
    """The required packages not (completely) in the cache."""
    folder = folder or cache_dir()
    return [(name, version) for name, version in required() if not (folder / f"{name}@{version}" / _MARKER).is_file()]


def fetch(folder: Path | None = None, say=print) -> list[tuple[str, str]]:
    """Put every missing package into the cache with `npm pack`; returns what was fetched.

    Raises RuntimeError with one line when npm is not installed or a package cannot be had.
    """
    folder = folder or cache_dir()
    todo = missing(folder)
    if not todo:
        return []
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed: install Node.js (it brings npm), then run this again")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, version in todo:
            say(f"fetching {name}@{version}")
            try:
                done = subprocess.run([npm, "pack", f"{name}@{version}", "--pack-destination", tmp, "--silent"],
                                      capture_output=True, text=True, cwd=tmp, timeout=NPM_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"npm pack {name}@{version} took over {NPM_TIMEOUT} s: is the npm registry "
                                   "reachable from here?") from None
            if done.returncode != 0:
                reason = (done.stderr.strip().splitlines() or ["no message"])[-1]
                raise RuntimeError(f"npm pack {name}@{version} failed: {reason}")
            _unpack(Path(tmp) / done.stdout.strip().splitlines()[-1], folder / f"{name}@{version}")
    return todo


def _unpack(tarball: Path, target: Path) -> None:
    """The tarball's package/ contents into `target`, replacing it whole (unpacked beside it, then renamed)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        with tarfile.open(tarball) as tar:
            tar.extractall(staging, filter="data")
        (staging / "package" / _MARKER).write_text("")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging / "package", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
