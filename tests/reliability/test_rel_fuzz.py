"""Fuzzing with hypothesis: profile TOML, chaos rule files, cell ids and suffixes, CLI arguments and
`check` documents never end in a traceback; and the crashes the fuzzing found, kept as regressions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import fuzz
from harness.workspace import Moto, Workspace
from reliability_counts import FUZZ_EXAMPLES, FUZZ_SUBPROCESS, SEED

MIN_EXAMPLES = 500


def test_fuzzed_input_never_crashes(rel_ws, figures, moto):
    assert FUZZ_EXAMPLES >= MIN_EXAMPLES, "CI runs at least 500 examples per target"
    section = fuzz.run_battery(rel_ws, FUZZ_EXAMPLES, SEED, FUZZ_SUBPROCESS, moto_url=moto.url)
    figures["fuzz"] = section
    assert set(section["examples"]) == set(fuzz.TARGETS)
    assert all(n >= MIN_EXAMPLES for n in section["examples"].values()), section["examples"]
    assert all(n >= min(FUZZ_SUBPROCESS, 5) for n in section["subprocess_examples"].values())
    assert section["tracebacks"] == 0, fuzz.problems(section)
    assert fuzz.problems(section) == []
    rules = section["targets"]["rules"]
    assert rules["valid_files"] > 0 and rules["roundtrips"] == rules["valid_files"]
    assert rules["proxy_listeners_off_loopback"] == 0


# -- regressions: examples the fuzzing found, each a crash ("internal error") before its fix ------------

@pytest.fixture(scope="module")
def battery(tmp_path_factory, rel_ws) -> Iterator[fuzz.FuzzBattery]:
    ws = Workspace(tmp_path_factory.mktemp("fuzz-regressions"))
    ws.copy_synth_from(rel_ws, ["us-east-1-dev"])
    with Moto() as server:
        b = fuzz.FuzzBattery(ws, server.url, SEED)
        b.prepare()
        yield b


def run(battery: fuzz.FuzzBattery, argv: list[str]) -> fuzz.Outcome:
    with battery.environment():
        battery._restore()
        return fuzz.invoke(argv, battery.build)


def write(battery: fuzz.FuzzBattery, name: str, text: str) -> str:
    path = battery.files / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


PROFILE = '[profiles.x]\nregions = ["us-east-1"]\nsuffixes = ["dev"]\n[profiles.x.backend]\nbucket = "{}"\n'
DEV_SYNTH = Path(__file__).resolve().parents[2] / "build" / "synth" / "us-east-1-dev" / "cdk.tf.json"


@pytest.mark.parametrize("template, needle", [
    ("{region.upper}", "placeholder '{region.upper}' is not allowed"),   # was AttributeError
    ("{region[0]}", "placeholder '{region[0]}' is not allowed"),
    ("{region!r}", "placeholder '{region!r}' is not allowed"),
    ("b-{region", "not a valid name template"),
])
def test_profile_backend_template_with_attribute_or_index_is_refused(battery, template, needle):
    path = write(battery, "p.toml", PROFILE.replace("{}", template))
    o = run(battery, ["cells", "--profiles", path, "--profile", "x"])
    assert fuzz.judge(o) is None and o.code == 2 and needle in o.err, o


@pytest.mark.parametrize("argv, needle", [
    (["cells", "--profile", "dev", "--suffix", "dev\nqa"], "holds a control character"),
    (["destroy", "a\nb"], "no deployment record for 'a\\nb'"),
    (["sweep", "--run-id", "x\ny"], "run 'x\\ny' is unknown here"),
    (["env", "../cells/us-east-1-dev/result"], "has no deployment record"),  # read another JSON file as a record
    (["env", "../runs/fuzz-run"], "has no deployment record"),
])
def test_names_never_break_the_one_line_message_or_become_paths(battery, argv, needle):
    o = run(battery, argv)
    assert fuzz.judge(o) is None and o.code == 2 and needle in o.err and o.err.count("\n") == 1, o


def test_force_unlock_on_a_missing_state_bucket_says_so(battery):
    o = run(battery, ["force-unlock", "some-id", "--cell", "us-east-1-dev"])  # was botocore NoSuchBucket
    assert fuzz.judge(o) is None and o.code == 1, o
    assert "state bucket" in o.err and "does not exist" in o.err, o


def test_force_unlock_cell_is_never_a_path(battery):
    o = run(battery, ["force-unlock", "some-id", "--cell", "../runs/fuzz-run"])  # read a ledger as a record
    assert fuzz.judge(o) is None and o.code == 2 and "no deployment record" in o.err, o


def test_unreadable_ledger_and_record_are_named(tmp_path, battery):
    build = tmp_path / "build"
    (build / "runs").mkdir(parents=True)
    (build / "runs" / "cut.json").write_text('{"run_id": "cut", "cells": [{"cell": "a"')  # a run killed mid-write
    (build / "deployments").mkdir()
    (build / "deployments" / "x.json").write_text('{"cell": "x", "nope": 1}')
    with battery.environment(), pytest.MonkeyPatch.context() as mp:
        mp.setenv("STACKMATRIX_BUILD", str(build))
        sweep = fuzz.invoke(["sweep", "--all-runs"], build)
        destroy = fuzz.invoke(["destroy"], build)
    assert fuzz.judge(sweep) is None and sweep.code == 2 and "run ledger" in sweep.err and "cut.json" in sweep.err
    assert fuzz.judge(destroy) is None and destroy.code == 2 and "x.json" in destroy.err


def _doc(mutate) -> str:
    doc = json.loads(DEV_SYNTH.read_text()) if DEV_SYNTH.is_file() else {
        "provider": {"aws": [{"region": "us-east-1"}]}, "resource": {"aws_vpc": {"vpc": {"cidr_block": "10.0.0.0/16"}}}}
    mutate(doc)
    return json.dumps(doc)


@pytest.mark.parametrize("mutate, code, needle", [
    (lambda d: d["resource"]["aws_vpc"]["vpc"].update(tags="${local.tags}"), None, ""),  # was TypeError
    (lambda d: d.update(resource=[1]), 2, "resource is an array"),                        # was AttributeError
    (lambda d: d.update(provider={"aws": [None]}), 2, "provider.aws[0] is null"),
    (lambda d: d.update(terraform={"backend": 5}), 2, "terraform.backend is a number"),
    (lambda d: d["resource"].update(aws_subnet=7), 2, "resource.aws_subnet is a number"),
    (lambda d: d.update(data=[[]]), 2, "data is an array"),
    (lambda d: d["resource"].update({"a\nb": {}}), None, ""),
])
def test_check_on_odd_terraform_json(battery, mutate, code, needle):
    path = write(battery, "check/cdk.tf.json", _doc(mutate))
    o = run(battery, ["check", path])
    assert fuzz.judge(o) is None, o
    if code is not None:
        assert o.code == code and needle in o.err, o
