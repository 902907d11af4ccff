"""Each catalogue rule that the project's policy suite had fires on our VpcStack broken by one override,
names rule, address, the AWS error it prevents (or what breaks) and the fix, and stays silent on the
clean stack. Also `python -m matrix check` exit codes and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from matrix.__main__ import main
from matrix.catalogue import CROSS_CHECKS, Context, SynthDoc, check_doc, check_docs

ROOT = Path(__file__).resolve().parent.parent

EXPECTED = {  # variant -> (rule, address fragment, words of the fix)
    "interval-300": ("flow-log-interval", "aws_flow_log.flow-log", "600"),
    "foreign-region": ("no-foreign-region", "aws_vpc_endpoint.s3-endpoint", "derive it from the cell's region"),
    "iam-wildcard": ("iam-no-wildcard-resource", "aws_iam_role_policy.flow-logs-policy", "scope Resource"),
    "no-locking": ("backend-locking", "terraform.backend.s3", "use_lockfile = true"),
    "unencrypted": ("backend-encrypted", "terraform.backend.s3", "encrypt = true"),
    "bad-key": ("backend-key-pattern", "terraform.backend.s3", "dev/<stack-id>.tfstate"),
    "dns-off": ("vpc-cidr-dns", "aws_vpc.vpc", "enable_dns_hostnames = true"),
    "two-private-in-one-az": ("subnets-per-az", "aws_subnet.private-subnet-1", "one private subnet per"),
    "overlapping-subnets": ("subnet-cidr-overlap", "aws_subnet.private-subnet-0", "its own block"),
    "cross-az-nat": ("private-route-own-az-nat", "aws_route_table.private-rt-1", "aws_nat_gateway.nat-1"),
    "endpoint-missing-rt": ("s3-endpoint-all-route-tables", "aws_vpc_endpoint.s3-endpoint", "route_table_ids"),
    "no-region-tag": ("tags-suffix-region", "aws_vpc.vpc", "default_tags"),
    "name-without-suffix": ("tags-suffix-region", "aws_vpc.vpc", "from the suffix"),
}


@pytest.fixture(scope="session")
def variants(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("variants")
    subprocess.run([sys.executable, str(ROOT / "tests" / "synth_variants.py"), str(out)], check=True,
                   cwd=ROOT, timeout=300)
    return out


def _doc(variants: Path, name: str, project: Path | None = ROOT) -> SynthDoc:
    return SynthDoc.load(variants / name / "cdk.tf.json",
                         Context(cell=name, region="us-east-1" if name != "same-role-b" else "eu-west-1",
                                 suffix="dev", project_dir=project))


def test_the_clean_stack_passes_every_rule(variants):
    assert check_doc(_doc(variants, "clean")) == []


@pytest.mark.parametrize("variant", sorted(EXPECTED))
def test_each_rule_names_address_and_fix(variants, variant):
    rule, address, fix = EXPECTED[variant]
    found = check_doc(_doc(variants, variant))
    assert found, f"{variant}: no violation"
    matching = [v for v in found if v.rule.id == rule and address in v.line()]
    assert matching, f"{variant}: expected {rule} on {address}, got {[v.line() for v in found]}"
    line = matching[0].line()
    assert rule in line and fix in line and "Fix:" in line
    assert "(AWS would answer " in line or "(AWS accepts it, then " in line


def test_every_former_policy_rule_is_exercised():
    """The 13 rule ids of the former policy suite keep working (other code and reports name them)."""
    former = {"flow-log-interval", "vpc-cidr-dns", "subnets-per-az", "private-route-own-az-nat",
              "s3-endpoint-all-route-tables", "backend-encrypted", "backend-key-pattern", "backend-locking",
              "tags-suffix-region", "iam-no-wildcard-resource", "no-foreign-region", "cdktf-json",
              "global-names-unique"}
    covered = {rule for rule, _, _ in EXPECTED.values()} | {"cdktf-json"} | set(CROSS_CHECKS)
    assert covered >= former


def test_account_global_names_must_differ_across_cells(variants):
    docs = [_doc(variants, "same-role-a"), _doc(variants, "same-role-b")]
    found = [v for v in check_docs(docs) if v.rule.id == "global-names-unique"]
    assert len(found) == 1 and "stackmatrix-flowlogs" in found[0].message and "EntityAlreadyExists" in found[0].message


def test_cdktf_json_must_exist_and_point_at_a_real_file(variants, tmp_path):
    missing = check_doc(_doc(variants, "clean", project=tmp_path), only=["cdktf-json"])
    assert missing and "cdktf.json not found" in missing[0].message and "create" in missing[0].fix
    (tmp_path / "cdktf.json").write_text(json.dumps({"language": "python", "app": "python3 nope.py"}))
    wrong = check_doc(_doc(variants, "clean", project=tmp_path), only=["cdktf-json"])
    assert wrong and "does not exist" in wrong[0].message
    (tmp_path / "nope.py").write_text("")
    assert check_doc(_doc(variants, "clean", project=tmp_path), only=["cdktf-json"]) == []


def test_check_command_exit_codes(variants, capsys):
    assert main(["check", str(variants / "clean" / "cdk.tf.json"), "--project", str(ROOT)]) == 0
    assert "clean" in capsys.readouterr().err
    assert main(["check", str(variants / "interval-300" / "cdk.tf.json"), "--project", str(ROOT)]) == 1
    out = capsys.readouterr().out
    assert "flow-log-interval: aws_flow_log.flow-log" in out and "Fix:" in out
    assert "AWS would answer InvalidParameter" in out
    # several files are several cells: the cross-cell rule applies
    assert main(["check", str(variants / "same-role-a" / "cdk.tf.json"),
                 str(variants / "same-role-b" / "cdk.tf.json"), "--project", str(ROOT)]) == 1
    assert "global-names-unique" in capsys.readouterr().out


@pytest.mark.parametrize("content, needle", [
    (None, "no such file"),
    ("{not json", "not a Terraform JSON document"),
    ("[1, 2]", "not a Terraform JSON document"),
    ('{"hello": 1}', "is this a cdk.tf.json"),
])
def test_check_bad_input_exits_2(tmp_path, capsys, content, needle):
    f = tmp_path / "x.json"
    if content is not None:
        f.write_text(content)
    assert main(["check", str(f)]) == 2
    assert needle in capsys.readouterr().err


def test_rules_read_any_users_stack_not_our_ids(tmp_path):
    """A hand-written stack with other construct names and an interval of 300 is still caught."""
    doc = {
        "provider": {"aws": [{"region": "eu-west-1", "default_tags": [{"tags": {
            "EnvironmentSuffix": "prod", "Region": "eu-west-1"}}]}]},
        "terraform": {"backend": {"s3": {"bucket": "b", "key": "prod/app.tfstate", "region": "eu-west-1",
                                         "encrypt": True, "use_lockfile": True}}},
        "resource": {
            "aws_vpc": {"main": {"cidr_block": "10.1.0.0/16", "enable_dns_hostnames": True}},
            "aws_flow_log": {"logs": {"vpc_id": "${aws_vpc.main.id}", "max_aggregation_interval": 300,
                                      "traffic_type": "ALL"}},
        },
    }
    path = tmp_path / "cdk.tf.json"
    path.write_text(json.dumps(doc))
    found = check_doc(SynthDoc.load(path, Context(project_dir=None)), only=["flow-log-interval"])
    assert [v.address for v in found] == ["aws_flow_log.logs"]
