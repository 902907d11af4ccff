"""IAM policy rules: the grammar IAM enforces, policy sizes, service principals, wildcards.

IAM parses every policy document when it is stored (CreateRole, UpdateAssumeRolePolicy,
PutRolePolicy, CreatePolicy) and refuses what breaks its grammar with MalformedPolicyDocument,
naming the problem; `problems()` walks a document the same way and returns (message, kind) pairs,
which the rules turn into findings with IAM's own wording. Trust policies (a role's
assume_role_policy) must name principals and no resources; identity policies the opposite.

`statements()` is shared with service_roles.py, which judges what a policy allows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

from matrix.catalogue.doc import REF_RE as REF
from matrix.catalogue.doc import SynthDoc, literal
from matrix.catalogue.model import AwsError, Finding, arg_check, define, doc_check
from matrix.catalogue.principals import service_names

GRAMMAR = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html"
QUOTAS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"
PRINCIPALS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html"

#: (tf type, argument) -> "trust" or "identity"
POLICY_ARGS = {
    ("aws_iam_role", "assume_role_policy"): "trust",
    ("aws_iam_role_policy", "policy"): "identity",
    ("aws_iam_policy", "policy"): "identity",
    ("aws_iam_user_policy", "policy"): "identity",
    ("aws_iam_group_policy", "policy"): "identity",
}
STATEMENT_KEYS = {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource",
                  "Condition"}
VERSIONS = ("2012-10-17", "2008-10-17")
#: characters IAM counts toward a policy's size: all but whitespace
SIZE_LIMITS = {("aws_iam_role", "assume_role_policy"): (2048, "ACLSizePerRole"),
               ("aws_iam_role_policy", "policy"): (10240, "RolePolicySize"),
               ("aws_iam_policy", "policy"): (6144, "PolicySize"),
               ("aws_iam_user_policy", "policy"): (2048, "UserPolicySize"),
               ("aws_iam_group_policy", "policy"): (5120, "GroupPolicySize")}
#: documented service principals that are not botocore endpoint prefixes or signing names
EXTRA_PRINCIPALS = {
    "vpc-flow-logs", "delivery.logs", "logs", "events", "scheduler", "ssm", "ec2", "lambda", "edgelambda",
    "ecs-tasks", "states", "apigateway", "firehose", "cloudtrail", "config", "backup", "sns", "sqs", "s3",
    "elasticloadbalancing", "autoscaling", "application-autoscaling", "codebuild", "codepipeline",
    "codedeploy", "cloudformation", "monitoring", "sagemaker", "glue", "batch", "eks", "eks-fargate-pods",
    "spotfleet", "replication.dynamodb", "dms", "rds", "export.rds", "monitoring.rds", "datasync", "transfer",
    "elasticmapreduce", "guardduty", "securityhub", "inspector", "access-analyzer",
    "cloudfront", "lakeformation", "athena", "kinesisanalytics", "pipes", "iot", "greengrass", "appsync",
    "cognito-idp", "dlm", "kafka", "mq", "es", "opensearchservice", "airflow", "airflow-env", "bedrock",
}

GRAMMAR_RULE = define(
    "iam-policy-grammar", "error", "IAM policy documents follow IAM's grammar",
    "IAM refuses a policy document that is not JSON, has an unknown Version or top-level key, a "
    "statement without Effect Allow/Deny, without Action/NotAction, an action without a service "
    "prefix, a non-alphanumeric or repeated Sid; identity policies must name resources and no "
    "principal; trust policies must name principals and no resources.",
    GRAMMAR, "fix the policy document as the finding says",
    aws_error=AwsError("MalformedPolicyDocument", 400, "Syntax errors in policy."))
SIZE_RULE = define(
    "iam-policy-size", "error", "IAM policy documents stay within IAM's size quotas",
    "IAM counts a policy's characters without whitespace and refuses a trust policy over 2,048, an "
    "inline role policy over 10,240 (all of a role's inline policies together), a managed policy over "
    "6,144 characters.",
    QUOTAS, "split the policy or drop statements",
    aws_error=AwsError("LimitExceeded", 409, "Cannot exceed quota for {argument}: {value}"))
PRINCIPAL_RULE = define(
    "iam-service-principal", "error", "service principals name a service that exists",
    "IAM refuses a trust policy whose Service principal is not a service principal it knows "
    "(a typo, a region inserted where the service has no regional principal, an ARN).",
    PRINCIPALS, "use the service's principal, <service>.amazonaws.com (e.g. vpc-flow-logs.amazonaws.com)",
    aws_error=AwsError("MalformedPolicyDocument", 400, 'Invalid principal in policy: "SERVICE":"{value}"'))
WILDCARD_RULE = define(
    "iam-no-wildcard-resource", "warning", 'no IAM Allow statement has Resource "*"',
    'A statement that allows its actions on Resource "*" grants them on every resource of the account, '
    "far beyond what the role needs; AWS accepts it.",
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html#grant-least-privilege",
    "scope Resource to the ARNs it needs (e.g. the log group's arn and arn:*)",
    breaks="the role can act on every resource of the account, not only the ones it needs", kind="project")


def parse(policy: Any) -> dict[str, Any] | None:
    """A policy document as an object (Terraform carries JSON text), None when unparsable."""
    if isinstance(policy, dict):
        return policy
    if isinstance(policy, str):
        try:
            data = json.loads(policy)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None
    return None


def statements(policy: Any) -> Iterator[dict[str, Any]]:
    data = parse(policy)
    if not data:
        return
    stmts = data.get("Statement") or []
    for s in stmts if isinstance(stmts, list) else [stmts]:
        if isinstance(s, dict):
            yield s


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def problems(text: Any, kind: str) -> list[str]:
    """What IAM's parser refuses in this document ("trust" or "identity"), in IAM's words."""
    data = parse(text)
    if data is None:
        if isinstance(text, str) and not literal(text):
            return []  # an expression (jsonencode(...), a data source) builds it at apply
        return ["Syntax errors in policy."]
    out: list[str] = []
    extra = set(data) - {"Version", "Id", "Statement"}
    if extra:
        out.append(f"Syntax errors in policy. Unknown field(s) {', '.join(sorted(extra))}.")
    if "Version" in data and data["Version"] not in VERSIONS:
        out.append("The policy failed legacy parsing")
    stmts = data.get("Statement")
    if not stmts or not isinstance(stmts, dict | list):
        out.append("Syntax errors in policy. No Statement.")
        return out
    sids: set[str] = set()
    for s in as_list(stmts):
        if not isinstance(s, dict):
            out.append("Syntax errors in policy.")
            continue
        unknown = set(s) - STATEMENT_KEYS
        if unknown:
            out.append(f"Syntax errors in policy. Unknown statement field(s) {', '.join(sorted(unknown))}.")
        sid = s.get("Sid")
        if sid is not None:
            if not isinstance(sid, str) or not re.fullmatch(r"[A-Za-z0-9]*", sid):
                out.append("Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the "
                           "regular expression [0-9A-Za-z]*")
            elif sid in sids:
                out.append("Statement IDs (SID) in a single policy must be unique.")
            sids.add(str(sid))
        if s.get("Effect") not in ("Allow", "Deny"):
            out.append("Syntax errors in policy. Effect must be Allow or Deny.")
        actions = s.get("Action", s.get("NotAction"))
        if ("Action" in s) == ("NotAction" in s) or not actions:
            out.append("Policy statement must contain actions.")
        for action in as_list(actions):
            if not isinstance(action, str) or (action != "*" and not re.fullmatch(r"[A-Za-z0-9-]+:[A-Za-z0-9*?]+",
                                                                                      action)):
                out.append("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")
                break
        has_principal = "Principal" in s or "NotPrincipal" in s
        has_resource = "Resource" in s or "NotResource" in s
        if kind == "identity":
            if has_principal:
                out.append("Policy document should not specify a principal.")
            if not has_resource:
                out.append("Policy statement must contain resources.")
        else:
            if not has_principal:
                out.append("Missing required field Principal")
            if has_resource:
                out.append("Has prohibited field Resource")
    return out


@arg_check(GRAMMAR_RULE)
def grammar(tf_type: str, argument: str, value: Any, region: str | None, address: str) -> Iterable[Finding]:
    kind = POLICY_ARGS.get((tf_type, argument))
    if kind is None or value is None:
        return
    for message in dict.fromkeys(problems(value, kind)):
        yield GRAMMAR_RULE.finding(address, f"{argument} is refused: {message}", f"fix {argument}: {message}",
                                   argument=argument, value=value,
                                   aws_error=AwsError("MalformedPolicyDocument", 400, message))


def policy_size(text: Any) -> int:
    raw = text if isinstance(text, str) else json.dumps(text)
    return len(re.sub(r"\s", "", raw))


@arg_check(SIZE_RULE)
def size(tf_type: str, argument: str, value: Any, region: str | None, address: str) -> Iterable[Finding]:
    limit = SIZE_LIMITS.get((tf_type, argument))
    if limit is None or value is None:
        return
    # references resolve at apply to ARNs and names of at least one character: counting them as one
    # character gives a size the real document can only exceed
    n = policy_size(REF.sub("x", value) if isinstance(value, str) else value)
    if n > limit[0]:
        at_least = "" if literal(value) else "at least "
        yield SIZE_RULE.finding(address, f"{argument} has {at_least}{n} characters without whitespace; IAM allows "
                                f"{limit[0]}",
                                f"shorten {argument} below {limit[0]} characters (whitespace does not count)",
                                argument=argument, value=n,
                                aws_error=AwsError("LimitExceeded", 409, f"Cannot exceed quota for {limit[1]}: "
                                                   f"{limit[0]}"))


@lru_cache(maxsize=1)
def known_principals() -> frozenset[str]:
    """Service principal names (before .amazonaws.com): botocore's endpoint prefixes and signing names,
    plus the documented principals that are neither."""
    return frozenset(EXTRA_PRINCIPALS) | service_names()


def principal_problem(principal: str) -> str | None:
    m = re.fullmatch(r"([a-z0-9.-]+)\.amazonaws\.com(\.cn)?", principal)
    if not m:
        return "is not of the form <service>.amazonaws.com"
    if m.group(1) not in known_principals():
        return "is not a service principal AWS knows (botocore's service names and the documented principals)"
    return None


@arg_check(PRINCIPAL_RULE)
def service_principal(tf_type: str, argument: str, value: Any, region: str | None, address: str) -> Iterable[Finding]:
    if POLICY_ARGS.get((tf_type, argument)) != "trust":
        return
    for s in statements(value):
        principal = s.get("Principal")
        if not isinstance(principal, dict):
            continue
        for p in as_list(principal.get("Service")):
            if not isinstance(p, str) or not literal(p):
                continue
            problem = principal_problem(p)
            if problem:
                yield PRINCIPAL_RULE.finding(address, f"{argument}: Service principal {p!r} {problem}",
                                             argument=argument, value=p)


@doc_check(WILDCARD_RULE)
def iam_wildcard(doc: SynthDoc) -> Iterable[Finding]:
    for (rtype, arg), kind in POLICY_ARGS.items():
        if kind != "identity":
            continue
        for t, n, body in doc.resources(rtype):
            for s in statements(body.get(arg)):
                if s.get("Effect", "Allow") == "Allow" and "*" in as_list(s.get("Resource")):
                    yield WILDCARD_RULE.finding(f"{t}.{n}", f'statement {s.get("Sid") or s.get("Action")} allows '
                                                'Resource "*"', argument=arg)
    for n, body in ((doc.data.get("data") or {}).get("aws_iam_policy_document") or {}).items():
        for s in as_list(body.get("statement")):
            if isinstance(s, dict) and s.get("effect", "Allow") == "Allow" and "*" in (s.get("resources") or []):
                yield WILDCARD_RULE.finding(f"data.aws_iam_policy_document.{n}", 'a statement allows resources ["*"]',
                                            "scope resources to the ARNs it needs", argument="statement")
