"""rules: bad input is a UsageError naming the field; the three formats load to the same behaviour;
probabilities are reproducible with a seed; first-N, max-count and time windows behave."""

from __future__ import annotations

import json

import pytest

from matrix.chaos.protocol import RequestInfo
from matrix.chaos.rules import RuleSet, load_rules, parse_duration, parse_rules, rule
from matrix.errors import UsageError


def info(service="ec2", op="CreateVpc", region="us-east-1", method="POST"):
    proto = {"ec2": "ec2", "iam": "query", "sts": "query", "s3": "rest-xml"}.get(service, "json")
    return RequestInfo(service, region, op, proto, method, "1.0" if service == "dynamodb" else "1.1")


def faults(rs: RuleSet, n: int, **kw) -> list[bool]:
    rs.arm(now=0.0)
    return [bool(rs.evaluate(info(**kw), now=0.0)) for _ in range(n)]


# -- bad input -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("item", "words"), [
    ({"service": "ec3", "effect": "throttle"}, ["service", "'ec3'", "ec2"]),
    ({"service": "ec2", "operation": "CreateVcp", "effect": "throttle"}, ["operation", "'CreateVcp'", "CreateVpc"]),
    ({"service": "ec2", "operation": "Frob*", "effect": "throttle"}, ["operation", "'Frob*'", "matches no"]),
    ({"service": "s3", "effect": "error", "code": "RequestLimitExceed"}, ["code", "'RequestLimitExceed'"]),
    ({"service": "s3", "effect": "error", "code": "RequestLimitExceeded"}, ["code", "s3"]),
    ({"service": "ec2", "effect": "throttle", "probability": 1.5}, ["probability", "1.5", "[0, 1]"]),
    ({"service": "ec2", "effect": "throttle", "probability": -0.1}, ["probability", "-0.1"]),
    ({"service": "ec2", "effect": "throttle", "probabilty": 0.5}, ["unknown key", "probabilty", "probability"]),
    ({"service": "ec2", "effect": "explode"}, ["effect", "'explode'", "throttle"]),
    ({"service": "ec2"}, ["LocalStack"]),  # no effect: read as a LocalStack rule, which is valid...
    ({"service": "ec2", "first": 3}, ["effect is missing"]),
    ({"service": "ec2", "effect": "error"}, ["needs a code"]),
    ({"service": "ec2", "effect": "error", "code": "InternalError", "status": 200}, ["status", "400..599"]),
    ({"service": "ec2", "effect": "latency"}, ["latency_ms"]),
    ({"service": "ec2", "effect": "latency", "latency_ms": 5, "code": "X"}, ["code", "does not apply"]),
    ({"service": "ec2", "effect": "throttle", "first": 0}, ["first", ">= 1"]),
    ({"service": "ec2", "effect": "throttle", "duration": "forever"}, ["duration", "'forever'"]),
    ({"service": "ec2", "effect": "reset", "when": "during"}, ["when", "before, after"]),
    ({"service": "ec2", "effect": "throttle", "region": "us east 1"}, ["region"]),
    ({"operation": "PutItemz", "effect": "throttle"}, ["operation", "name the service"]),
])
def test_bad_rules_name_the_field(item, words):
    if words == ["LocalStack"]:
        assert parse_rules([item]).rules[0].code == "ServiceUnavailable"
        return
    with pytest.raises(UsageError) as exc:
        parse_rules([item], source="rules.json")
    msg = str(exc.value)
    assert "rules.json, rule 1" in msg
    for w in words:
        assert w in msg, msg


def test_localstack_and_fis_bad_input():
    with pytest.raises(UsageError, match=r"error\.status"):
        parse_rules([{"service": "s3", "error": {"status": 503}}])
    with pytest.raises(UsageError, match="percentage = 150"):
        parse_rules([{"service": "ec2", "operations": "CreateVpc", "percentage": 150, "duration": "PT1M"}])
    with pytest.raises(UsageError, match="operations"):
        parse_rules([{"service": "ec2", "operations": "", "percentage": 10}])
    with pytest.raises(UsageError, match="actionId"):
        parse_rules({"actions": {"a": {"actionId": "aws:ec2:stop-instances", "parameters": {}}}})


def test_malformed_files_report_line_numbers(tmp_path):
    bad_json = tmp_path / "r.json"
    bad_json.write_text('[\n  {"service": "ec2",\n   "effect": "throttle",,}\n]\n')
    with pytest.raises(UsageError, match=r"r\.json: line 3 column \d+: invalid JSON"):
        load_rules(bad_json)
    bad_toml = tmp_path / "r.toml"
    bad_toml.write_text('seed = 1\n[[rules]]\nservice = "ec2"\neffect = throttle\n')
    with pytest.raises(UsageError, match=r"r\.toml: line 4 column \d+: invalid TOML"):
        load_rules(bad_toml)
    with pytest.raises(UsageError, match="no such file"):
        load_rules(tmp_path / "missing.json")
    top = tmp_path / "t.json"
    top.write_text(json.dumps({"seed": 1, "rulez": []}))
    with pytest.raises(UsageError, match=r"needs a 'rules' list"):
        load_rules(top)
    dup = tmp_path / "d.json"
    dup.write_text(json.dumps([{"name": "a", "effect": "throttle", "service": "ec2"},
                               {"name": "a", "effect": "throttle", "service": "s3"}]))
    with pytest.raises(UsageError, match=r"name = 'a'"):
        load_rules(dup)


# -- the three formats -----------------------------------------------------------------------------

def test_three_formats_load_to_the_same_behaviour(tmp_path):
    ours = tmp_path / "ours.toml"
    ours.write_text('seed = 3\n[[rules]]\nname = "t"\nservice = "ec2"\noperation = ["CreateVpc", "CreateSubnet"]\n'
                    'probability = 0.4\neffect = "error"\ncode = "RequestLimitExceeded"\nstatus = 503\n')
    localstack = tmp_path / "ls.json"
    localstack.write_text(json.dumps({"seed": 3, "rules": [
        {"service": "ec2", "operation": op, "probability": 0.4,
         "error": {"statusCode": 503, "code": "RequestLimitExceeded"}} for op in ("CreateVpc", "CreateSubnet")]}))
    fis = tmp_path / "fis.json"
    fis.write_text(json.dumps({"seed": 3, "rules": [
        {"name": "t", "service": "ec2", "operations": "CreateVpc,CreateSubnet", "percentage": 40}]}))
    sets = [load_rules(p) for p in (ours, localstack, fis)]
    outcomes = []
    for rs in sets:
        rs.arm(now=0.0)
        seq = []
        for i in range(200):
            op = ("CreateVpc", "CreateSubnet", "DescribeVpcs")[i % 3]
            got = rs.evaluate(info(op=op), now=0.0)
            seq.append((got[0].code, got[0].status) if got else None)
        outcomes.append(seq)
    # the same calls are selected with the same answer; the draws differ only by the rules' layout
    for seq in outcomes:
        assert {s for s in seq if s} == {("RequestLimitExceeded", 503)}
        assert all(s is None for s in seq[2::3])  # DescribeVpcs never
        assert 0.25 < sum(1 for s in seq if s) / 133 < 0.55
    assert outcomes[0] == outcomes[2]  # ours and FIS: one rule, same name, same seed -> same draws


def test_fis_experiment_template_is_a_rule_file():
    template = {
        "description": "x", "targets": {"Roles": {"resourceType": "aws:iam:role", "selectionMode": "ALL"}},
        "actions": {
            "wait": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT2M"}},
            "throttle": {"actionId": "aws:fis:inject-api-throttle-error", "startAfter": ["wait"],
                         "parameters": {"service": "ec2", "operations": "CreateVpc", "percentage": "50",
                                        "duration": "PT5M"}, "targets": {"Roles": "Roles"}},
            "down": {"actionId": "aws:fis:inject-api-unavailable-error",
                     "parameters": {"service": "ec2", "operations": "DeleteVpc", "percentage": "100",
                                    "duration": "PT1M"}, "targets": {"Roles": "Roles"}},
        }, "stopConditions": [{"source": "none"}], "roleArn": "arn:aws:iam::123456789012:role/fis"}
    rs = parse_rules(template)
    by = {r.name: r for r in rs}
    assert by["throttle"].start_after == 120 and by["throttle"].duration == 300
    assert by["throttle"].probability == 0.5 and by["throttle"].effect == "throttle"
    assert (by["down"].code, by["down"].status) == ("Unavailable", 503)


def test_default_throttles_per_service():
    rs = parse_rules([{"effect": "throttle"}])
    expected = {"ec2": ("RequestLimitExceeded", 503), "iam": ("Throttling", 400), "sts": ("Throttling", 400),
                "s3": ("SlowDown", 503), "dynamodb": ("ThrottlingException", 400),
                "logs": ("ThrottlingException", 400)}
    for service, (code, status) in expected.items():
        (f,) = rs.evaluate(info(service=service, op="X"))
        assert (f.code, f.status) == (code, status), service


# -- selection and budgets ---------------------------------------------------------------------------

def test_probability_is_reproducible_with_a_seed():
    a = faults(parse_rules([rule(service="ec2", effect="throttle", probability=0.3)], seed=42), 300)
    b = faults(parse_rules([rule(service="ec2", effect="throttle", probability=0.3)], seed=42), 300)
    c = faults(parse_rules([rule(service="ec2", effect="throttle", probability=0.3)], seed=43), 300)
    assert a == b and a != c
    assert 0.2 < sum(a) / 300 < 0.4
    rs = parse_rules([rule(service="ec2", effect="throttle", probability=0.3)], seed=42)
    assert faults(rs, 300) == a  # re-arming restarts the same sequence


def test_first_n_and_max_count():
    assert faults(parse_rules([rule(effect="throttle", first=3)]), 6) == [True] * 3 + [False] * 3
    got = faults(parse_rules([rule(effect="throttle", probability=0.5, max_count=4)], seed=1), 100)
    assert sum(got) == 4
    # first counts matching calls, not faults: 50% of the first 10 calls
    got = faults(parse_rules([rule(effect="throttle", probability=0.5, first=10)], seed=1), 100)
    assert sum(got[10:]) == 0 and 0 < sum(got[:10]) < 10


def test_time_window_relative_to_arming():
    rs = parse_rules([rule(effect="throttle", start_after="2s", duration="PT3S")])
    rs.arm(now=100.0)
    got = {t: bool(rs.evaluate(info(), now=100.0 + t)) for t in (0, 1.9, 2.0, 4.9, 5.0, 60)}
    assert got == {0: False, 1.9: False, 2.0: True, 4.9: True, 5.0: False, 60: False}


def test_selectors_mutating_globs_regions():
    rs = parse_rules([rule(service="ec2", mutating=True, region="eu-*", effect="throttle")])
    assert rs.evaluate(info(op="CreateVpc", region="eu-west-1"))
    assert not rs.evaluate(info(op="DescribeVpcs", region="eu-west-1"))
    assert not rs.evaluate(info(op="CreateVpc", region="us-east-1"))
    assert not rs.evaluate(info(service="iam", op="CreateRole", region="eu-west-1"))
    rs = parse_rules([rule(service=["ec2", "iam"], operation=["Create*", "DeleteVpc"], effect="throttle")])
    assert rs.evaluate(info(op="CreateSubnet")) and rs.evaluate(info(service="iam", op="CreateRole"))
    assert rs.evaluate(info(op="DeleteVpc")) and not rs.evaluate(info(op="DeleteSubnet"))
    assert not rs.evaluate(RequestInfo("", "", "", "unknown", "POST"))  # non-AWS requests never


def test_latency_composes_with_a_later_error_rule():
    rs = parse_rules([rule(effect="latency", latency_ms=50), rule(service="ec2", effect="throttle", first=1)])
    first, second = rs.evaluate(info()), rs.evaluate(info())
    assert [f.effect for f in first] == ["latency", "throttle"]
    assert [f.effect for f in second] == ["latency"]


def test_rule_round_trips_through_its_dict():
    r = rule(name="x", service="s3", operation="Put*", region="us-*", mutating=True, probability=0.25, first=2,
             max_count=3, start_after=1, duration=9, effect="error", code="SlowDown", status=503, message="m")
    assert parse_rules([r.to_dict()]).rules[0].to_dict() == r.to_dict()


def test_durations():
    assert parse_duration(12) == 12 and parse_duration("500ms") == 0.5 and parse_duration("2m") == 120
    assert parse_duration("PT1M30S") == 90 and parse_duration("PT1H") == 3600 and parse_duration("x") is None
