"""Where a run reads and writes: every generated file lives under one build directory.

`build_dir()` is `$STACKMATRIX_BUILD` when set (tests point it at a temporary folder), else
`build/` under the current directory. Later stages read what earlier ones wrote here:
synth/<cell>/cdk.tf.json -> outputs/<cell>.json -> allure-results/ -> allure-report/.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUILD_ENV = "STACKMATRIX_BUILD"


def build_dir() -> Path:
    return Path(os.environ.get(BUILD_ENV) or Path.cwd() / "build")


def synth_dir() -> Path:
    return build_dir() / "synth"


def outputs_dir() -> Path:
    return build_dir() / "outputs"


def allure_results_dir() -> Path:
    return build_dir() / "allure-results"


def allure_report_dir() -> Path:
    return build_dir() / "allure-report"


SYNTH_FILE = "cdk.tf.json"


def synth_file(cell_id: str) -> Path:
    """The synthesized document of a cell: build/synth/<cell>/cdk.tf.json (the one place this path is built)."""
    return synth_dir() / cell_id / SYNTH_FILE
