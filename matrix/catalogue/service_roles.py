"""Service roles, judged statically (the emulators do not evaluate IAM): a flow log's role.

A flow log that publishes to CloudWatch Logs needs a role that vpc-flow-logs.amazonaws.com may
assume and whose policies allow creating log streams in, and writing events to, the log group the
flow log names. AWS accepts the flow log either way; with a wrong role it delivers nothing
(DeliverLogsStatus FAILED). The role, its inline policies and the log group are found through
references (`iam_role_arn = ${aws_iam_role.X.arn}`, `role = ${aws_iam_role.X.id}`,
`log_destination = ${aws_cloudwatch_log_group.Y.arn}`), never by name. Managed policy attachments
cannot be read at synth: a role with one is not judged on permissions (README: known gaps).

`allows(policies, action, target)` is a small IAM evaluator: Allow/Deny, Action/NotAction and
Resource/NotResource with `*`/`?` wildcards; the log group is matched by reference (a symbolic ARN)
and, when its name is literal, by its real ARN (a pattern naming an account id is judged unknown).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from typing import Any

from matrix.catalogue.doc import SynthDoc, literal, ref_to
from matrix.catalogue.iam import as_list, parse, statements
from matrix.catalogue.model import AwsError, Finding, define, doc_check

FLOW_LOGS_ROLE = "https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html"
FLOW_LOGS_CWL = "https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-cwl.html"
FLOW_LOG_PRINCIPAL = "vpc-flow-logs.amazonaws.com"
#: what the flow-logs service calls on the log group, with the resource each call is authorized on
FLOW_LOG_CALLS = (("logs:CreateLogStream", "{group}"), ("logs:PutLogEvents", "{group}:log-stream:eni-0-all"))
ACCOUNT = "000000000000"  # stands for the account: a pattern naming one is judged unknown
LOG_GROUP_REF = re.compile(r"\$\{aws_cloudwatch_log_group\.([A-Za-z0-9_-]+)\.arn\}")

TRUST_RULE = define(
    "flow-log-role-trust", "error", "a flow log's role trusts vpc-flow-logs.amazonaws.com",
    "The flow-logs service assumes the role named by the flow log's iam_role_arn to publish records; "
    "if the role's trust policy does not allow vpc-flow-logs.amazonaws.com to sts:AssumeRole, AWS "
    "creates the flow log but it delivers nothing (DeliverLogsStatus FAILED, 'Access error').",
    FLOW_LOGS_ROLE, f"allow Principal {{\"Service\": \"{FLOW_LOG_PRINCIPAL}\"}} Action sts:AssumeRole in the "
    "role's assume_role_policy",
    breaks="the flow log is created but delivers no records (DeliverLogsStatus FAILED)")
PERMISSIONS_RULE = define(
    "flow-log-role-permissions", "error",
    "a flow log's role may create streams in and write to the log group the flow log names",
    "The role must allow logs:CreateLogStream on the log group and logs:PutLogEvents on its streams "
    "(the documented policy also lists logs:CreateLogGroup, DescribeLogGroups and DescribeLogStreams); "
    "without them AWS creates the flow log but it delivers nothing.",
    FLOW_LOGS_ROLE, "allow logs:CreateLogStream and logs:PutLogEvents on [<log group arn>, <log group arn>:*]",
    breaks="the flow log is created but delivers no records (DeliverLogsStatus FAILED)")
DESTINATION_RULE = define(
    "flow-log-destination", "error", "a flow log to CloudWatch Logs names its log group and a role",
    "CreateFlowLogs with LogDestinationType cloud-watch-logs (the default) refuses a request without "
    "DeliverLogsPermissionArn, and needs the log group (LogDestination or LogGroupName).",
    FLOW_LOGS_CWL, "set iam_role_arn and log_destination (the log group's arn)",
    aws_error=AwsError("InvalidParameter", 400,
                       "DeliverLogsPermissionArn can't be empty if LogDestinationType is cloud-watch-logs."))


def _cwl_flow_logs(doc: SynthDoc) -> Iterable[tuple[str, dict[str, Any]]]:
    for t, n, body in doc.resources("aws_flow_log"):
        if body.get("log_destination_type", "cloud-watch-logs") == "cloud-watch-logs":
            yield f"{t}.{n}", body


@doc_check(DESTINATION_RULE)
def destination(doc: SynthDoc) -> Iterable[Finding]:
    for addr, body in _cwl_flow_logs(doc):
        if not body.get("iam_role_arn"):
            yield DESTINATION_RULE.finding(addr, "publishes to CloudWatch Logs without iam_role_arn",
                                           argument="iam_role_arn")
        if not body.get("log_destination") and not body.get("log_group_name"):
            yield DESTINATION_RULE.finding(
                addr, "publishes to CloudWatch Logs without log_destination or log_group_name",
                argument="log_destination",
                aws_error=AwsError("InvalidParameter", 400, "LogDestination can't be empty if LogDestinationType "
                                   "is cloud-watch-logs."))


def _role_of(doc: SynthDoc, body: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    addr = ref_to(body.get("iam_role_arn"), "aws_iam_role")
    role = doc.get(addr)
    return (addr, role) if addr and role is not None else None


def trusts(trust: Any, principal: str) -> bool | None:
    """Whether the trust policy lets `principal` sts:AssumeRole; None when it cannot be known at synth."""
    if parse(trust) is None:
        return None if isinstance(trust, str) and not literal(trust) else False
    allowed = False
    for s in statements(trust):
        services = as_list((s.get("Principal") or {}).get("Service")) if isinstance(s.get("Principal"), dict) else []
        everyone = s.get("Principal") == "*" or (isinstance(s.get("Principal"), dict)
                                                 and "*" in as_list(s["Principal"].get("AWS")))
        if not (principal in services or everyone) or not _action_matches(s, "sts:AssumeRole"):
            continue
        if s.get("Effect") == "Deny":
            return False
        if s.get("Effect") == "Allow":
            allowed = True
    return allowed


@doc_check(TRUST_RULE)
def trust(doc: SynthDoc) -> Iterable[Finding]:
    for addr, body in _cwl_flow_logs(doc):
        found = _role_of(doc, body)
        if found is None:
            continue  # a role ARN from outside the stack (or none: flow-log-destination says so)
        role_addr, role = found
        if trusts(role.get("assume_role_policy"), FLOW_LOG_PRINCIPAL) is False:
            yield TRUST_RULE.finding(role_addr, f"the role of {addr} does not let {FLOW_LOG_PRINCIPAL} sts:AssumeRole",
                                     argument="assume_role_policy", value=role.get("assume_role_policy"))


def _action_matches(statement: dict[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(fnmatch.fnmatchcase(action.lower(), str(a).lower()) for a in as_list(statement["NotAction"]))
    return any(fnmatch.fnmatchcase(action.lower(), str(a).lower()) for a in as_list(statement.get("Action")))


def _symbolic(resource: str) -> str | None:
    """`${aws_cloudwatch_log_group.Y.arn}:*` -> `<log-group:Y>:*`; None for other expressions."""
    text = LOG_GROUP_REF.sub(lambda m: f"<log-group:{m.group(1)}>", resource)
    return text if literal(text) else None


def _resource_matches(statement: dict[str, Any], targets: tuple[str, str | None]) -> bool | None:
    """Whether the statement's resources cover the target, given as (symbolic ARN, real ARN or None);
    None when it cannot be known at synth (an unresolvable expression, an account id in the pattern)."""
    symbolic, concrete = targets
    key = "NotResource" if "NotResource" in statement else "Resource"
    hit: bool | None = False
    for r in as_list(statement.get(key)):
        pattern = _symbolic(str(r)) if isinstance(r, str) else None
        if pattern is None or (pattern.startswith("arn:") and "<log-group:" not in pattern
                               and (concrete is None or re.search(r":\d{12}:", pattern))):
            hit = None if hit is False else hit
            continue
        target = symbolic if "<log-group:" in pattern or concrete is None else concrete
        if fnmatch.fnmatchcase(target, pattern.replace("[", "[[]")):
            hit = True
    if key == "NotResource" and hit is not None:
        return not hit
    return hit


def allows(policies: list[Any], action: str, target: tuple[str, str | None]) -> bool | None:
    """Whether the identity policies allow `action` on `target`; None when it cannot be known at synth."""
    allowed: bool | None = False
    for policy in policies:
        for s in statements(policy):
            if not _action_matches(s, action):
                continue
            match = _resource_matches(s, target)
            if s.get("Effect") == "Deny" and match:
                return False
            if s.get("Effect") == "Allow":
                if match:
                    allowed = True
                elif match is None and allowed is False:
                    allowed = None
    return allowed


def role_policies(doc: SynthDoc, role_addr: str, role: dict[str, Any]) -> list[Any] | None:
    """The inline policies of a role (aws_iam_role_policy and inline_policy blocks); None when a managed
    policy is attached (its content is not in the document)."""
    if role.get("managed_policy_arns") or any(
            ref_to(b.get("role"), "aws_iam_role") == role_addr
            for _t, _n, b in doc.resources("aws_iam_role_policy_attachment")):
        return None
    policies = [b.get("policy") for _t, _n, b in doc.resources("aws_iam_role_policy")
                if ref_to(b.get("role"), "aws_iam_role") == role_addr]
    policies += [b.get("policy") for b in as_list(role.get("inline_policy")) if isinstance(b, dict)]
    return policies


@doc_check(PERMISSIONS_RULE)
def permissions(doc: SynthDoc) -> Iterable[Finding]:
    for addr, body in _cwl_flow_logs(doc):
        found = _role_of(doc, body)
        group = ref_to(body.get("log_destination") or body.get("log_group_name"), "aws_cloudwatch_log_group")
        if found is None or group is None:
            continue
        role_addr, role = found
        policies = role_policies(doc, role_addr, role)
        if policies is None:
            continue
        name = group.split(".", 1)[1]
        group_name = (doc.get(group) or {}).get("name")
        real = (f"arn:aws:logs:{doc.region() or '*'}:{ACCOUNT}:log-group:{group_name}"
                if isinstance(group_name, str) and literal(group_name) else None)
        missing = [action for action, resource in FLOW_LOG_CALLS
                   if allows(policies, action, (resource.format(group=f"<log-group:{name}>"),
                                                resource.format(group=real) if real else None)) is False]
        if missing:
            yield PERMISSIONS_RULE.finding(
                role_addr, f"the role of {addr} does not allow {', '.join(missing)} on {group} (and its streams)",
                argument="policy", value=missing)
