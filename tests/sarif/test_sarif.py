"""SARIF 2.1.0 from `python -m matrix check --format sarif` and from every run (build/findings.sarif).

* valid against the OASIS SARIF 2.1.0 JSON schema (the copy npm's @microsoft/sarif-multitool-linux ships,
  validated with check-jsonschema), and a broken file is refused;
* results point at the Python call that created the construct: checked against the source's AST (a
  call node with exactly that span, calling the class of the resource type) for >= 90% of the results of
  the stack's own resources, on stack/vpc.py and on a user's stack outside stack/ with computed ids;
* fingerprints are stable, rules carry their metadata, suppressions (profile file or inline) are
  reported as suppressed, never dropped;
* a run's findings (synth, and what a cell records: a strict-emulator refusal, a failed behaviour
  check) are gathered into build/findings.sarif at the same lines.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "node_modules" / "@microsoft" / "sarif-multitool-linux" / "sarif-2.1.0.json"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def matrix(*args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "matrix", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def validate(path: Path) -> subprocess.CompletedProcess:
    if not SCHEMA.is_file():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=ROOT, check=True, timeout=900)
    assert SCHEMA.is_file(), f"{SCHEMA} missing: npm ci installs @microsoft/sarif-multitool-linux (optional, Linux)"
    return subprocess.run([str(CHECK_JSONSCHEMA), "--schemafile", str(SCHEMA), str(path)], capture_output=True,
                          text=True, timeout=120)


def class_of(address: str) -> str:
    """The construct class cdktf's provider generates for a resource type: aws_vpc_endpoint -> VpcEndpoint."""
    data = address.startswith("data.")
    rtype = address.split(".")[1 if data else 0]
    name = "".join(w.capitalize() for w in rtype.removeprefix("aws_").split("_"))
    return ("DataAws" + name) if data else name


def creates(root: Path, result: dict, cls: str) -> bool:
    """True when the result's region is exactly a call of `cls` in the source (its AST)."""
    loc = result["locations"][0]["physicalLocation"]
    path = root / loc["artifactLocation"]["uri"]
    region = loc["region"]
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (node.lineno, node.col_offset + 1, node.end_lineno, node.end_col_offset + 1) \
                == (region["startLine"], region["startColumn"], region["endLine"], region["endColumn"]):
            func = node.func
            return (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")) == cls
    return False


def first_address(result: dict) -> str:
    """The resource a result is placed at (a cross-cell rule prefixes the cell; a multi-resource one lists)."""
    return result["properties"]["address"].split(", ")[0].split(":")[-1]


def located_share(log: dict, root: Path, folder: str) -> tuple[int, int, list]:
    own = [r for r in log["runs"][0]["results"] if first_address(r).startswith(("aws_", "data."))]
    good = [r for r in own if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith(folder)
            and creates(root, r, class_of(first_address(r)))]
    bad = [(r["ruleId"], r["properties"]["address"], r["locations"][0]) for r in own if r not in good]
    return len(good), len(own), bad


@pytest.fixture(scope="module")
def vpc_sarif(synth_root: Path, tmp_path_factory) -> tuple[Path, dict]:
    """check --format sarif on two synthesized cells of the VPC stack, with suffix and region that make the
    rules fire on almost every resource (the stack itself is clean)."""
    out_dir = tmp_path_factory.mktemp("sarif")
    files = [synth_root / "synth" / c / "cdk.tf.json" for c in ("us-east-1-dev", "eu-west-1-dev")]
    out = matrix("check", "--format", "sarif", "--suffix", "zz", "--region", "ap-northeast-1", *map(str, files))
    assert out.returncode == 1, out.stderr
    path = out_dir / "vpc.sarif"
    path.write_text(out.stdout)
    return path, json.loads(out.stdout)


def test_vpc_sarif_validates_against_the_oasis_schema(vpc_sarif, tmp_path: Path):
    path, _ = vpc_sarif
    proc = validate(path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    broken = json.loads(path.read_text())
    broken["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    del broken["runs"][0]["tool"]["driver"]["name"]
    bad = tmp_path / "broken.sarif"
    bad.write_text(json.dumps(broken))
    proc = validate(bad)
    assert proc.returncode == 1 and "startLine" in proc.stdout and "'name' is a required property" in proc.stdout, \
        proc.stdout


def test_vpc_results_point_at_the_line_that_creates_the_construct(vpc_sarif):
    _, log = vpc_sarif
    good, total, bad = located_share(log, ROOT, "stack/")
    assert total >= 30, total
    assert good / total >= 0.9, bad
    assert good == total, bad  # in fact every one
    results = log["runs"][0]["results"]
    # a construct made in a loop points at the line inside the loop; its cdk.tf.json block is related
    subnet = next(r for r in results if r["properties"]["address"] == "aws_subnet.private-subnet-2")
    line = subnet["locations"][0]["physicalLocation"]["region"]["startLine"]
    assert "aws.Subnet(" in (ROOT / "stack" / "vpc.py").read_text().splitlines()[line - 1]
    assert subnet["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("cdk.tf.json")
    # backend and provider findings point at the S3Backend and AwsProvider calls
    for address, call in (("terraform.backend.s3", "core.S3Backend("), ("provider.aws[0]", "aws.AwsProvider(")):
        r = next(r for r in results if r["properties"]["address"] == address)
        line = r["locations"][0]["physicalLocation"]["region"]["startLine"]
        assert call in (ROOT / "stack" / "vpc.py").read_text().splitlines()[line - 1], address
    assert log["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"] == ROOT.as_uri() + "/"


def test_rule_metadata_and_stable_fingerprints(vpc_sarif, synth_root: Path):
    _, log = vpc_sarif
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "stackmatrix" and driver["version"] and driver["informationUri"]
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert "Fix: " in rule["help"]["text"], rule
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
    results = log["runs"][0]["results"]
    assert all(r["ruleId"] == driver["rules"][r["ruleIndex"]]["id"] for r in results)
    keys = {}
    for r in results:
        fp = r["partialFingerprints"]["stackmatrix/v1"]
        key = (r["ruleId"], r["properties"]["address"].split(":")[-1])
        assert keys.setdefault(fp, key) == key, "one fingerprint, one (rule, address)"
    # the same cells checked again: same fingerprints; the two cells' identical findings are one result each
    again = json.loads(matrix("check", "--format", "sarif", "--suffix", "zz", "--region", "ap-northeast-1",
                              str(synth_root / "synth" / "us-east-1-dev" / "cdk.tf.json"),
                              str(synth_root / "synth" / "eu-west-1-dev" / "cdk.tf.json")).stdout)
    fingerprints = [r["partialFingerprints"] for r in results]
    assert [r["partialFingerprints"] for r in again["runs"][0]["results"]] == fingerprints
    vpc = [r for r in results if r["properties"]["address"] == "aws_vpc.vpc" and r["ruleId"] == "tags-suffix-region"]
    assert any(r["properties"]["cells"] == ["us-east-1-dev", "eu-west-1-dev"] for r in vpc), vpc


@pytest.fixture(scope="module")
def user_stack(tmp_path_factory) -> Path:
    """The user's stack (tests/sarif/sarif_user_stack.py) synthesized with its construct locations."""
    import sarif_user_stack

    from stack.cdk import load, record_locations

    folder = tmp_path_factory.mktemp("user") / "out"
    cdk = load()
    outdir = folder.parent / "cdktf.out"
    with record_locations(ROOT) as where:
        app = cdk.core.App(outdir=str(outdir))
        sarif_user_stack.build(app, cdk, "shop")
    app.synth()
    where.write(folder, "shop")
    shutil.copy(outdir / "stacks" / "shop" / "cdk.tf.json", folder / "cdk.tf.json")
    return folder / "cdk.tf.json"


def test_user_stack_outside_stack_with_computed_ids(user_stack: Path, tmp_path: Path):
    out = matrix("check", "--format", "sarif", str(user_stack), "--project", str(ROOT))
    assert out.returncode == 1, out.stderr
    log = json.loads(out.stdout)
    (tmp_path / "user.sarif").write_text(out.stdout)
    assert validate(tmp_path / "user.sarif").returncode == 0
    good, total, bad = located_share(log, ROOT, "tests/sarif/sarif_user_stack.py")
    assert total >= 8 and good / total >= 0.9, bad
    results = log["runs"][0]["results"]
    # computed ids: "rt-WEB" from the helper points at the helper's line, "LOGS" at its own call
    rt = next(r for r in results if r["properties"]["address"] == "aws_route_table.rt-WEB")
    line = rt["locations"][0]["physicalLocation"]["region"]["startLine"]
    assert "aws.RouteTable(" in Path(ROOT / "tests/sarif/sarif_user_stack.py").read_text().splitlines()[line - 1]
    flow = next(r for r in results if r["ruleId"] == "flow-log-interval")
    assert flow["properties"]["address"] == "aws_flow_log.flow-shop" and flow["level"] == "error"
    # the inline suppression above the Vpc call: reported, marked suppressed with its reason
    dns = next(r for r in results if r["ruleId"] == "vpc-cidr-dns")
    assert dns["suppressions"] == [{"kind": "inSource", "status": "accepted",
                                    "justification": "hostnames stay off in this network on purpose (tested as inline)",
                                    "properties": {"source": "tests/sarif/sarif_user_stack.py:16"}}]
    assert "[suppressed: hostnames stay off" in matrix("check", str(user_stack), "--project", str(ROOT)).stdout


def test_profile_file_suppressions(user_stack: Path, tmp_path: Path):
    profiles = tmp_path / "profiles.toml"
    profiles.write_text((ROOT / "matrix" / "profiles.toml").read_text() + """
[[suppress]]
rule = "tags-suffix-region"
address = "aws_subnet.*"
reason = "subnets are tagged by the network team's policy"
""")
    out = matrix("check", "--format", "sarif", str(user_stack), "--project", str(ROOT), "--profiles", str(profiles))
    results = json.loads(out.stdout)["runs"][0]["results"]
    subnets = [r for r in results if r["properties"]["address"].startswith("aws_subnet.")
               and r["ruleId"] == "tags-suffix-region"]
    assert subnets and all(r["suppressions"][0]["kind"] == "external" and
                           r["suppressions"][0]["justification"] == "subnets are tagged by the network team's policy"
                           for r in subnets)
    assert any(not r.get("suppressions") for r in results), "others stay open"
    # everything suppressed: exit 0, and the text lines still show each finding, marked
    profiles.write_text(profiles.read_text() + '\n[[suppress]]\nrule = "*"\nreason = "accepted for this test"\n')
    out = matrix("check", str(user_stack), "--project", str(ROOT), "--profiles", str(profiles))
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("[suppressed: ") == len(out.stdout.splitlines()) > 5
    assert "suppressed" in out.stderr
    # a suppression without a reason is refused like any bad profile input
    profiles.write_text((ROOT / "matrix" / "profiles.toml").read_text() + '\n[[suppress]]\nrule = "x"\n')
    out = matrix("check", str(user_stack), "--profiles", str(profiles))
    assert out.returncode == 2 and "'reason' is missing" in out.stderr, out.stderr


def test_run_findings_gather_synth_and_recorded_findings(synth_root: Path, tmp_path: Path, monkeypatch):
    from matrix import findings
    from matrix.cells import load_profile_cells

    build = tmp_path / "build"
    monkeypatch.setenv("STACKMATRIX_BUILD", str(build))
    shutil.copytree(synth_root / "synth" / "us-east-1-dev", build / "synth" / "us-east-1-dev")
    cells = load_profile_cells("dev")
    path, log = findings.write_run_sarif(cells)
    assert path == build / "findings.sarif" and log["runs"][0]["results"] == []  # the clean stack
    # a strict-emulator refusal and a failed behaviour check, recorded by the cell, land at the Python line
    findings.record("us-east-1-dev", {"rule": "flow-log-interval", "address": "aws_flow_log.flow-log",
                                      "argument": "max_aggregation_interval", "value": 300,
                                      "message": "InvalidParameter: refused as AWS refuses it",
                                      "fix": "use 60 or 600"}, "strict-emulator")
    findings.record("us-east-1-dev", {"rule": "private-route-own-az-nat", "address": "aws_route_table.private-rt-1",
                                      "message": "egress of private-subnet-1 does not end at an internet gateway",
                                      "fix": "route 0.0.0.0/0 to the NAT of the subnet's AZ"}, "live-suite")
    path, log = findings.write_run_sarif(cells)
    assert validate(path).returncode == 0
    results = log["runs"][0]["results"]
    assert [r["properties"]["stage"] for r in results] == ["strict-emulator", "live-suite"]
    good, total, bad = located_share(log, ROOT, "stack/")
    assert (good, total) == (2, 2), bad
    assert results[0]["properties"]["value"] == 300 and results[0]["properties"]["cells"] == ["us-east-1-dev"]
    assert findings.describe(path, log).endswith("(2 result(s) (live-suite, strict-emulator))")


def test_behaviour_check_problems_land_at_the_resource_they_name(synth_root: Path, tmp_path: Path, monkeypatch):
    """A failed live-suite check names AWS ids; record_problems finds their address in the cell's state."""
    from matrix import findings
    from matrix.cells import load_profile_cells

    build = tmp_path / "build"
    monkeypatch.setenv("STACKMATRIX_BUILD", str(build))
    shutil.copytree(synth_root / "synth" / "us-east-1-dev", build / "synth" / "us-east-1-dev")
    state = {"version": 4, "resources": [
        {"mode": "managed", "type": "aws_subnet", "name": "private-subnet-1",
         "instances": [{"attributes": {"id": "subnet-0a1b2c3d4e5f60718"}}]},
        {"mode": "managed", "type": "aws_route_table", "name": "private-rt-1",
         "instances": [{"attributes": {"id": "rtb-0f1e2d3c4b5a69788"}}]},
        {"mode": "data", "type": "aws_availability_zones", "name": "azs", "instances": [{"attributes": {"id": "x"}}]},
    ]}
    (build / "state" / "us-east-1-dev").mkdir(parents=True)
    (build / "state" / "us-east-1-dev" / "terraform.tfstate").write_text(json.dumps(state))
    problem = ("private subnet subnet-0a1b2c3d4e5f60718: its route table rtb-0f1e2d3c4b5a69788 has no 0.0.0.0/0 "
               "route, so nothing leaves it.")
    assert findings.record_problems("us-east-1-dev", "nat-in-public-subnet", [problem], "add the route") == 1
    assert findings.record_problems("us-east-1-dev", "flow-log-role-trust", [], "-") == 0
    _, log = findings.write_run_sarif(load_profile_cells("dev"))
    (result,) = log["runs"][0]["results"]
    assert result["properties"]["stage"] == "live-suite"
    assert result["properties"]["address"] == "aws_subnet.private-subnet-1"
    assert result["message"]["text"].startswith(problem)
    good, total, bad = located_share(log, ROOT, "stack/")
    assert (good, total) == (1, 1), bad


def test_a_strict_emulator_refusal_lands_at_the_resource_being_applied(clients, synth_root: Path, tmp_path: Path,
                                                                      monkeypatch):
    """A real refusal from the strict emulator in front of moto, as the embedded engine reports it."""
    from botocore.exceptions import ClientError

    from matrix import findings
    from matrix.cells import load_profile_cells
    from matrix.engines.embedded.engine import ApplyError

    build = tmp_path / "build"
    monkeypatch.setenv("STACKMATRIX_BUILD", str(build))
    shutil.copytree(synth_root / "synth" / "us-east-1-dev", build / "synth" / "us-east-1-dev")
    ec2 = clients.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    with pytest.raises(ClientError) as refused:
        ec2.create_flow_logs(ResourceIds=[vpc], ResourceType="VPC", TrafficType="ALL",
                             LogDestinationType="cloud-watch-logs", LogGroupName="/x/flow",
                             DeliverLogsPermissionArn="arn:aws:iam::123456789012:role/x", MaxAggregationInterval=300)
    error = ApplyError("aws_flow_log.flow-log", "create", refused.value)
    assert findings.record_strict_refusal("us-east-1-dev", error) is True
    assert findings.record_strict_refusal("us-east-1-dev", ApplyError("aws_vpc.vpc", "create", RuntimeError("x"))) \
        is False
    _, log = findings.write_run_sarif(load_profile_cells("dev"))
    (result,) = log["runs"][0]["results"]
    assert result["ruleId"] == "flow-log-interval" and result["properties"]["stage"] == "strict-emulator"
    text = result["message"]["text"]
    assert text.startswith("refused as AWS refuses it: create aws_flow_log.flow-log failed: ClientError: ")
    assert "(InvalidParameter)" in text and text.count("An error occurred") == 1
    good, total, bad = located_share(log, ROOT, "stack/")
    assert (good, total) == (1, 1), bad


def _old_recipe_sarif(cells, path: Path) -> bytes:
    """findings.sarif as the run wrote it before the synth suite stored its findings: check_docs in-process."""
    from matrix import findings
    from matrix.sarif import Source, build_log, write

    present = [c for c in cells if findings.synth_file(c.id).is_file()]
    found = [findings.as_finding(v, "synth") for v in findings.policy_violations(present)]
    for cell in cells:
        found += findings.recorded(cell.id)
    sources = [Source(c.id, findings.synth_file(c.id), json.loads(findings.synth_file(c.id).read_text()))
               for c in present]
    return write(build_log(found, sources, ROOT), path).read_bytes()


def test_run_sarif_reuses_the_synth_suites_findings_byte_for_byte(synth_root: Path, tmp_path: Path, monkeypatch):
    """The synth suite stores its findings (build/synth-findings.json); the run's findings.sarif reuses them,
    identical to checking the documents again, and checks again only a document whose key has none stored."""
    import matrix.catalogue
    from matrix import findings
    from matrix.cells import load_profile_cells
    from matrix.suites import run_synth_suite

    build = tmp_path / "build"
    monkeypatch.setenv("STACKMATRIX_BUILD", str(build))
    ids = ("us-east-1-dev", "eu-west-1-dev")
    for c in ids:
        shutil.copytree(synth_root / "synth" / c, build / "synth" / c)
    planted = build / "synth" / "eu-west-1-dev" / "cdk.tf.json"
    doc = json.loads(planted.read_text())
    for body in doc["resource"]["aws_flow_log"].values():
        body["max_aggregation_interval"] = 300  # AWS allows 60 or 600
    planted.write_text(json.dumps(doc, indent=2))
    cells = [c for c in load_profile_cells("nightly") if c.id in ids]
    clean = [c for c in cells if c.id == "us-east-1-dev"]
    assert len(cells) == 2
    findings.record("us-east-1-dev", {"rule": "private-route-own-az-nat", "address": "aws_route_table.private-rt-1",
                                      "message": "egress does not end at an internet gateway", "fix": "route it"},
                    "live-suite")

    assert run_synth_suite(cells) == 1  # the planted violation fails the suite, which stored its findings
    assert findings.store_path().is_file()
    old = _old_recipe_sarif(cells, tmp_path / "old.sarif")
    old_clean = _old_recipe_sarif(clean, tmp_path / "old-clean.sarif")

    def refuse(*_a, **_k):
        raise AssertionError("the catalogue ran again although the synth suite stored these findings")

    with monkeypatch.context() as m:
        m.setattr(matrix.catalogue, "check_doc", refuse)
        m.setattr(matrix.catalogue, "CROSS_CHECKS", {"refuse": refuse})
        new = findings.write_run_sarif(cells, path=tmp_path / "new.sarif")[0].read_bytes()
        new_clean = findings.write_run_sarif(clean, path=tmp_path / "new-clean.sarif")[0].read_bytes()
    assert new == old and new_clean == old_clean
    results = json.loads(new)["runs"][0]["results"]
    flow = [r for r in results if r["ruleId"] == "flow-log-interval"]
    assert flow and all(r["properties"]["cells"] == ["eu-west-1-dev"] for r in flow)
    assert [r["ruleId"] for r in json.loads(new_clean)["runs"][0]["results"]] == ["private-route-own-az-nat"]

    # one document's findings missing from the store: that one (and the cross-cell rules) checked here again
    store = json.loads(findings.store_path().read_text())
    eu = next(c for c in cells if c.id == "eu-west-1-dev")
    key = findings.doc_key(eu.id, eu.region, eu.suffix, planted.read_bytes())
    assert key in store["docs"]
    del store["docs"][key]
    store["cross"] = {}
    findings.store_path().write_text(json.dumps(store))
    assert findings.write_run_sarif(cells, path=tmp_path / "mixed.sarif")[0].read_bytes() == old
    # a run that did not run the suite (or a document edited since) never reads stale findings
    findings.forget_stored()
    assert findings.write_run_sarif(cells, path=tmp_path / "none.sarif")[0].read_bytes() == old
    assert run_synth_suite(cells) == 1
    planted.write_text(json.dumps({**doc, "resource": {**doc["resource"], "aws_flow_log": {
        n: {**b, "max_aggregation_interval": 60} for n, b in doc["resource"]["aws_flow_log"].items()}}}, indent=2))
    edited = findings.write_run_sarif(cells, path=tmp_path / "edited.sarif")[0].read_bytes()
    assert edited == _old_recipe_sarif(cells, tmp_path / "old-edited.sarif")
    assert "flow-log-interval" not in edited.decode()
