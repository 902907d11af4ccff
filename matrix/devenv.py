"""The one shared environment every nox session runs in (standard library only: nox imports it).

Heavy dependencies (cdktf and its AWS provider, cdktn, moto, boto3, the Allure CLI from npm) are
installed once into `.nox/shared` and `node_modules/`. A stamp file holds the hash of what was
installed (pyproject.toml, package-lock.json, the Python version); a session whose inputs did not
change installs nothing. `ensure()` returns the paths sessions run their commands with.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".nox" / "shared"
EXTRAS = "cdktn,dev"
STAMP = VENV / ".stackmatrix-stamp"
NODE_STAMP = ROOT / "node_modules" / ".stackmatrix-stamp"


@dataclass(frozen=True)
class Env:
    python: str
    bin: Path

    def env(self) -> dict[str, str]:
        """Environment for commands: the venv first on PATH, quiet jsii, project importable."""
        return {
            "PATH": f"{self.bin}{os.pathsep}{ROOT / 'node_modules' / '.bin'}{os.pathsep}"
            f"{os.environ.get('PATH', '')}",
            "VIRTUAL_ENV": str(self.bin.parent),
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
            "PYTHONDONTWRITEBYTECODE": "",
        }


def digest(*parts: bytes) -> str:
    """A stamp of several inputs (files, versions): sha256 over the parts, each ended by a NUL."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
        h.update(b"\0")
    return h.hexdigest()


def python_stamp() -> str:
    return digest(
        (ROOT / "pyproject.toml").read_bytes(), EXTRAS.encode(),
        f"{sys.version_info.major}.{sys.version_info.minor}".encode(),
    )


def ensure(log=print) -> Env:
    """Create or update .nox/shared when its inputs changed; otherwise touch nothing."""
    bindir = VENV / "bin"
    want = python_stamp()
    if STAMP.is_file() and STAMP.read_text() == want and (bindir / "python").exists():
        return Env(str(bindir / "python"), bindir)
    if not (bindir / "python").exists():
        log(f"devenv: creating {VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    log(f"devenv: installing stackmatrix[{EXTRAS}] into {VENV} (pyproject.toml changed or first run)")
    subprocess.run(
        [str(bindir / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-e", f"{ROOT}[{EXTRAS}]"],
        check=True, cwd=ROOT,
    )
    STAMP.write_text(want)
    return Env(str(bindir / "python"), bindir)


def ensure_node(log=print) -> bool:
    """`npm ci` for the pinned Allure CLI when package-lock.json changed. False without npm."""
    lock = ROOT / "package-lock.json"
    if not lock.is_file():
        return False
    if shutil.which("npm") is None:
        log("devenv: npm not found: Allure results are still written; install Node.js 20 for the HTML")
        return False
    want = digest(lock.read_bytes(), (ROOT / "package.json").read_bytes())
    if NODE_STAMP.is_file() and NODE_STAMP.read_text() == want:
        return True
    log("devenv: npm ci (Allure CLI)")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], check=True, cwd=ROOT)
    NODE_STAMP.write_text(want)
    return True


def nightly_axes() -> tuple[list[str], list[str]]:
    """(regions, suffixes) of the nightly profile, for nox's cell(region, suffix) sessions."""
    data = tomllib.loads((ROOT / "matrix" / "profiles.toml").read_text())
    nightly = data["profiles"]["nightly"]
    return list(nightly["regions"]), list(nightly["suffixes"])
