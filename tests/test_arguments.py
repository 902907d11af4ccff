"""The argument tables against the generated provider schema, both ways, and the refusals they make.

The schema (matrix/engines/embedded/arguments/schema.py) is generated from the cdktf AWS provider
bindings; every name in it must have exactly one classification (in a handler's `args`, or in
arguments/blocks.py for the provider block and the S3 backend), and no classification may name
something the schema does not have. Every refused argument is refused with its name, before any
API call; the backend arguments refused because terraform 1.11.4 rejects them are checked against
the terraform binary itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from matrix.engines.embedded.arguments import schema
from matrix.engines.embedded.arguments.blocks import BACKEND_S3, META, PROVIDER, TF_1_11_REJECTS
from matrix.engines.embedded.arguments.check import lookup
from matrix.engines.embedded.arguments.spec import EMULATORS, KINDS, REFUSED
from matrix.engines.embedded.config import ConfigError, load_config
from matrix.engines.embedded.resources import DATA_SOURCES, HANDLERS

TABLES = {
    **{f"resource {t}": (h.args, schema.RESOURCES.get(t)) for t, h in HANDLERS.items()},
    **{f"data {t}": (d.args, schema.DATA_SOURCES.get(t)) for t, d in DATA_SOURCES.items()},
    "provider aws": (PROVIDER, schema.PROVIDER_BLOCK),
    "backend s3": (BACKEND_S3, schema.BACKEND_S3),
}


def test_every_supported_type_is_in_the_generated_schema():
    regenerate = "regenerate: python -m matrix.engines.embedded.arguments.generate"
    assert sorted(schema.RESOURCES) == sorted(HANDLERS), regenerate
    assert sorted(schema.DATA_SOURCES) == sorted(DATA_SOURCES)
    assert schema.PROVIDER == "hashicorp/aws 6.25.0" and schema.BINDINGS == "cdktf-cdktf-provider-aws 21.22.1"


@pytest.mark.parametrize("name", sorted(TABLES))
def test_the_table_covers_the_schema_both_ways(name):
    table, names = TABLES[name]
    missing = sorted(n for n in names if lookup(table, n) is None)
    stale = sorted(n for n in table if n not in names)
    assert not missing, f"{name}: arguments without a classification: {missing}"
    assert not stale, f"{name}: classified but not in {schema.PROVIDER}: {stale}"


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_entry_is_well_formed(name):
    table, _ = TABLES[name]
    for arg, spec in table.items():
        assert spec.kind in KINDS, (name, arg)
        assert spec.kind not in ("local", "refused") or spec.note, f"{name}.{arg}: say how it is honoured or why not"
        assert set(spec.fails_on) <= set(EMULATORS), (name, arg)
        assert not spec.probe or spec.kind == REFUSED, (name, arg)
        assert spec.kind != "filter" or name.startswith("data "), f"{name}.{arg}: only data sources filter"


def test_handler_defaults_and_exports_are_arguments_or_computed():
    for rtype, handler in HANDLERS.items():
        for arg in handler.defaults:
            assert handler.args[arg].applied or handler.args[arg].kind == "local", (rtype, arg)
        assert "id" in handler.exports


# -- refusals at load ---------------------------------------------------------------------------

def refused_entries() -> list[tuple[str, str, str]]:
    out = []
    for rtype, handler in sorted(HANDLERS.items()):
        for arg, spec in sorted(handler.args.items()):
            if spec.kind == REFUSED and "." not in arg:
                out.append(("resource", rtype, arg))
    for arg, spec in sorted(PROVIDER.items()):
        if spec.kind == REFUSED and "." not in arg:
            out.append(("provider", "aws", arg))
    for arg, spec in sorted(BACKEND_S3.items()):
        if spec.kind == REFUSED and "." not in arg:
            out.append(("backend", "s3", arg))
    return out


def _value(kind: str, spec_allowed: tuple) -> object:
    """A value the table refuses (never one of the allowed ones)."""
    return {"bool": True, "number": 7, "list(string)": ["x-1"], "map(string)": {"k": "v"},
            "block": {"x": "y"}, "block-list": [{"x": "y"}]}.get(kind, "refused-value")


@pytest.fixture(scope="module")
def base_doc(dev_synth) -> dict:
    return json.loads(dev_synth.read_text())


def _first(doc: dict, rtype: str) -> dict:
    if rtype not in doc["resource"]:
        doc["resource"][rtype] = {"probe": {}}
    return next(iter(doc["resource"][rtype].values()))


@pytest.mark.parametrize("where, rtype, arg", refused_entries(), ids=lambda v: str(v))
def test_every_refused_argument_is_refused_with_its_name(base_doc, tmp_path, where, rtype, arg):
    doc = json.loads(json.dumps(base_doc))
    if where == "resource":
        kind = schema.RESOURCES[rtype][arg][0]
        _first(doc, rtype)[arg] = _value(kind, HANDLERS[rtype].args[arg].allowed)
        address = f"{rtype}."
    elif where == "provider":
        doc["provider"]["aws"][0][arg] = _value(schema.PROVIDER_BLOCK[arg][0], PROVIDER[arg].allowed)
        address = "provider.aws"
    else:
        doc["terraform"]["backend"]["s3"][arg] = _value(schema.BACKEND_S3[arg][0], BACKEND_S3[arg].allowed)
        address = "terraform.backend.s3"
    path = tmp_path / "cdk.tf.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert f"argument {arg!r} is refused by the embedded engine" in message and address in message
    assert "--engine terraform" in message


@pytest.mark.parametrize("arg, value", [("use_fips_endpoint", False), ("use_dualstack_endpoint", False),
                                        ("tag_policy_compliance", "disabled")])
def test_a_refused_provider_argument_is_accepted_at_its_default(base_doc, tmp_path, arg, value):
    doc = json.loads(json.dumps(base_doc))
    doc["provider"]["aws"][0][arg] = value
    path = tmp_path / "cdk.tf.json"
    path.write_text(json.dumps(doc))
    assert load_config(path).region == "us-east-1"


@pytest.mark.parametrize("mutate, needle", [
    (lambda d: d["resource"]["aws_vpc"]["vpc"].update({"no_such_argument": 1}),
     "aws_vpc.vpc: aws_vpc has no argument 'no_such_argument' in hashicorp/aws 6.25.0"),
    (lambda d: d["resource"]["aws_vpc_endpoint"]["s3-endpoint"].update({"dns_options": {"dns_record_ip_type": "ipv4"}}),
     "argument 'dns_options' is refused"),
    (lambda d: d["resource"]["aws_route_table"]["public-rt"].update(
        {"route": [{"cidr_block": "10.9.0.0/16", "local_gateway_id": "lgw-1"}]}),
     "argument 'route.local_gateway_id' is refused"),
    (lambda d: d["resource"]["aws_route_table"]["public-rt"].update({"route": [{"bogus": "x"}]}),
     "aws_route_table has no argument 'route.bogus'"),
    (lambda d: d["resource"]["aws_vpc"]["vpc"].update({"tags_all": {"a": "b"}}),
     "argument 'tags_all' is refused by the embedded engine: computed by the engine from tags"),
    (lambda d: d["resource"]["aws_vpc"]["vpc"].update({"for_each": {"a": "b"}}), "meta-argument 'for_each'"),
    (lambda d: d["resource"]["aws_vpc"]["vpc"].update({"provisioner": [{"local-exec": {"command": "x"}}]}),
     "meta-argument 'provisioner'"),
    (lambda d: d["resource"]["aws_vpc"]["vpc"].update({"provider": "aws.west"}), "meta-argument 'provider'"),
    (lambda d: d["resource"]["aws_vpc"]["vpc"].update({"lifecycle": {"replace_triggered_by": ["aws_eip.nat-eip-0"]}}),
     "meta-argument 'lifecycle.replace_triggered_by'"),
    (lambda d: d["resource"]["aws_vpc"]["vpc"].update({"lifecycle": {"ignore_changes": ["nope"]}}),
     "lifecycle.ignore_changes names 'nope', which is not an argument of aws_vpc"),
    (lambda d: d["resource"]["aws_vpc"]["vpc"].update({"lifecycle": {"made_up": True}}),
     "lifecycle has no argument 'made_up'"),
    (lambda d: d["resource"]["aws_iam_role_policy"]["flow-logs-policy"].pop("policy"),
     "required argument 'policy' is missing"),
    (lambda d: d.update({"locals": {"x": 1}}), "block 'locals' is refused"),
    (lambda d: d.update({"moved": [{"from": "a", "to": "b"}]}), "block 'moved' is refused"),
    (lambda d: d.update({"bogus_block": {}}), "bogus_block: unknown top-level block"),
    (lambda d: d["provider"].update({"random": [{}]}), "provider.random: only the aws provider"),
    (lambda d: d["provider"]["aws"][0].update({"assume_role": [{"role_arn": "arn:aws:iam::1:role/x"}]}),
     "argument 'assume_role' is refused"),
    (lambda d: d["output"]["vpc_id"].update({"precondition": [{"condition": "true"}]}),
     "output.vpc_id: argument 'precondition' is refused"),
    (lambda d: d["variable"]["run_id"].update({"validation": [{"condition": "true"}]}),
     "variable.run_id: argument 'validation' is refused"),
    (lambda d: d["data"]["aws_availability_zones"]["azs"].update({"unknown_filter": 1}),
     "aws_availability_zones has no argument 'unknown_filter'"),
])
def test_unknown_and_refused_input_is_named(base_doc, tmp_path, mutate, needle):
    doc = json.loads(json.dumps(base_doc))
    mutate(doc)
    path = tmp_path / "cdk.tf.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert needle in str(err.value)


def test_meta_arguments_are_all_classified():
    meta = {"depends_on", "lifecycle", "count", "for_each", "provisioner", "connection", "provider", "dynamic"}
    assert meta <= set(META)


# -- the backend refusals terraform itself makes -------------------------------------------------

TF_REJECTED = sorted(arg for arg, spec in BACKEND_S3.items() if spec.note.startswith("terraform 1.11.4 rejects"))


def test_terraform_rejects_the_backend_arguments_the_table_says_it_rejects(tmp_path):
    """Evidence from the real binary: `terraform init` names each one "No argument or block type"."""
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not on PATH")
    assert TF_REJECTED and TF_1_11_REJECTS.startswith("terraform 1.11.4")
    for arg in TF_REJECTED:
        work = tmp_path / arg
        work.mkdir()
        body = {"bucket": "b", "key": "k", "region": "us-east-1", arg: True if arg == "use_legacy_workflow" else "x"}
        Path(work, "main.tf.json").write_text(json.dumps({"terraform": {"backend": {"s3": body}}}))
        proc = subprocess.run([terraform, "init", "-input=false", "-no-color"], cwd=work, capture_output=True,
                              text=True, env={**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null"}, timeout=120,
                              check=False)
        assert proc.returncode != 0
        assert f'No argument or block type is named "{arg}"' in proc.stdout + proc.stderr, arg
