"""Categories: the same message lands in the same category in Python, Allure 3 and Allure 2."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from matrix.paths import PROJECT_ROOT
from reports.allurerc import write_allurerc
from reports.categories import CATEGORIES, allure2_categories, classify, lookup, tag_message

SAMPLES = [
    ("apply: ThrottlingNotSurvived after 5 attempts", "failed", "Throttling not survived"),
    ("An error occurred (Throttling) when calling DescribeVpcs: Rate exceeded", "broken", "Throttling not survived"),
    ("state bucket stackmatrix-tfstate-eu-west-1 does not exist", "broken", "Missing state bucket"),
    ("Error: Failed to get existing workspaces: NoSuchBucket", "failed", "Missing state bucket"),
    ("state lost: errored.tfstate written", "broken", "State lost"),
    ("Error acquiring the state lock\nLock Info: ID 1234", "failed", "Lock contention"),
    ("lock held by run 42", "broken", "Lock contention"),
    ("policy violation: flow-log-interval on aws_flow_log.flow", "failed", "Invalid configuration (policy)"),
    ("Emulator gap: moto does not delete endpoints", "broken", "Emulator gap"),
    ("The ModifyVpcEndpoint action has not been implemented", "broken", "Emulator gap"),  # moto's wording
    ("API action 'X' for service 'ec2' not yet implemented", "broken", "Emulator gap"),
    ("2 resources leaked after destroy", "failed", "Leaked resources"),
    ("assert 'enabled' == 'disabled'", "failed", "Product defect"),
    ("KeyError: 'vpc_id'", "broken", "Test defect"),
    ("TestDefect: fixture could not read outputs", "failed", "Test defect"),
    ("ProductDefect: subnet count", "broken", "Product defect"),
    ("THROTTLED by the proxy", "failed", "Throttling not survived"),
    ("anything at all", "passed", None),
    ("", "skipped", None),
]


def _expected(expected: str | None, status: str) -> str | None:
    """Allure's own default categories take what ours leave (broken -> Test errors)."""
    if expected is None and status == "broken":
        return "Test defect"
    return expected


@pytest.mark.parametrize(("message", "status", "expected"), SAMPLES)
def test_python_classification(message: str, status: str, expected: str | None):
    got = classify(message, status)
    assert (got.name if got else None) == _expected(expected, status)


def test_allure3_matches_like_python(tmp_path: Path, allure_cli: Path):
    """Load our generated allurerc.mjs in Node and match with Allure 3's own matchCategory."""
    rc = write_allurerc("t", tmp_path / "out", None, path=tmp_path / "allurerc.mjs")
    core = (PROJECT_ROOT / "node_modules" / "@allurereport" / "core-api" / "dist" / "index.js").as_uri()
    script = tmp_path / "match.mjs"
    script.write_text(f"""
import cfg from {json.dumps(rc.as_uri())};
import {{ normalizeCategoriesConfig, matchCategory }} from {json.dumps(core)};
const cats = normalizeCategoriesConfig(cfg.categories);
const samples = JSON.parse(process.argv[2]);
const out = samples.map(([message, status]) => {{
  const m = matchCategory(cats, {{ status, labels: [], message, flaky: false }});
  return m ? m.name : null;
}});
console.log(JSON.stringify(out));
""")
    samples = [[m, s] for m, s, _ in SAMPLES]
    proc = subprocess.run(["node", str(script), json.dumps(samples)], capture_output=True, text=True, timeout=60,
                          check=True)
    from_allure = json.loads(proc.stdout)
    for (message, status, _), got in zip(SAMPLES, from_allure, strict=True):
        py = classify(message, status)
        py_name = py.name if py else None
        if status not in ("failed", "broken"):
            assert got in (None, py_name)
            continue
        assert got == py_name, (message, status)


def test_allure2_categories_json_is_whole_message_java_style():
    cats = allure2_categories()
    names = [c["name"] for c in cats]
    assert names[: len(CATEGORIES)] == [c.name for c in CATEGORIES]
    for c, cat in zip(cats, CATEGORIES, strict=False):
        assert c["messageRegex"].startswith("(?is).*(?:")
        assert re.fullmatch(c["messageRegex"], f"first line\n[{cat.token}] x\nlast line")
    lock = next(c for c in cats if c["name"] == "Lock contention")
    assert re.fullmatch(lock["messageRegex"], "line 1\nError acquiring the state lock\nmore")
    product_fallback = cats[len(CATEGORIES)]
    assert product_fallback["name"] == "Product defect" and product_fallback["matchedStatuses"] == ["failed"]
    assert not re.fullmatch(product_fallback["messageRegex"], "TestDefect: x")


def test_tag_message_and_lookup():
    assert lookup("lock-contention") is lookup("Lock contention") is lookup("lockcontention")
    assert tag_message("exit status 1", "lock-contention") == "[LockContention] exit status 1"
    assert tag_message("Error acquiring the state lock", "lock-contention") == "Error acquiring the state lock"
    assert tag_message("exit status 1", "no-such-category") == "exit status 1"
    for c in CATEGORIES:  # every token lands in its own category
        got = classify(f"[{c.token}] something", "failed")
        assert got is c
