"""The battery's counts in the tests: CI sizes by default, raised (never lowered below the CI
minimums the tests assert) through the environment."""

from __future__ import annotations

import os

SEED = int(os.environ.get("RELIABILITY_SEED", "20261129"))
TRIALS = int(os.environ.get("RELIABILITY_TRIALS", "45"))
FUZZ_EXAMPLES = int(os.environ.get("RELIABILITY_FUZZ_EXAMPLES", "500"))
FUZZ_SUBPROCESS = int(os.environ.get("RELIABILITY_FUZZ_SUBPROCESS", "20"))
SIGNAL_RUNS = int(os.environ.get("RELIABILITY_SIGNAL_RUNS", "4"))
RESTARTS = int(os.environ.get("RELIABILITY_RESTARTS", "2"))
CLI_TRIALS = int(os.environ.get("RELIABILITY_CLI_TRIALS", "2"))
