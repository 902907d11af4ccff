"""Rules about one argument's value: the schema-driven ones and the curated value constraints.

* `schema-enum`, `schema-pattern`, `schema-length`, `schema-range`, `schema-items`, `schema-format`:
  one rule per kind of constraint, whatever the property; the constraint itself comes from AWS's
  data (schema.py) and each finding names its exact source (`cfn-lint schema AWS::Logs::LogGroup.
  RetentionInDays (eu-west-1)` or `botocore ec2 CreateVpc ...`).
* Curated constraints (`CURATED`), each with an AWS documentation source, where no schema has them:
  the flow-log interval set, VPC and subnet prefix lengths, tag count, tag key/value lengths and
  the reserved `aws:` prefix. They are data in the same `Constraint` form and are dropped where the
  schema already carries the same keyword (schema.constraints()).

`check_value()` applies every constraint of one argument to its Terraform value and returns the
findings; evaluate.check_argument() adds the code-written rules (IAM grammar) on top.
"""

from __future__ import annotations

import json
from typing import Any

from matrix.catalogue.aws_errors import validation_error
from matrix.catalogue.doc import literal
from matrix.catalogue.mapping import Arg, TypeMap
from matrix.catalogue.model import RULES, AwsError, Finding, define
from matrix.catalogue.schema import Constraint, constraints

CFN_SCHEMAS = "cfn-lint schemas (AWS CloudFormation resource provider schemas, per region)"
TAGGING = "https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html#tag-conventions"
FLOW_LOGS_API = "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateFlowLogs.html"
VPC_CIDRS = "https://docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html"
SUBNET_SIZING = "https://docs.aws.amazon.com/vpc/latest/userguide/subnet-sizing.html"

# -- schema-driven rules (one per kind of constraint) --------------------------------------------

_SCHEMA_FIX = "use a value inside the constraint the finding names (its source is AWS's own data)"
for _id, _what in (
    ("schema-enum", "a value outside the property's allowed set"),
    ("schema-pattern", "a value that does not match the property's pattern"),
    ("schema-length", "a value shorter or longer than the property allows"),
    ("schema-range", "a number outside the property's range"),
    ("schema-items", "a list or map with fewer or more items than the property allows"),
    ("schema-format", "a value not in the property's format (CIDR, resource id, ARN, ...)"),
):
    define(_id, "error", f"AWS refuses {_what}",
           f"AWS validates every parameter against its model and refuses {_what}. The constraint comes "
           "from AWS's CloudFormation resource schema of the property (per region, shipped by cfn-lint) "
           "or from the botocore service model of the API parameter; the Terraform argument is mapped "
           "to both once (matrix/catalogue/mapping.py).",
           CFN_SCHEMAS, _SCHEMA_FIX,
           aws_error=AwsError("ValidationError", 400, "1 validation error detected: Value '{value}' at "
                              "'{argument}' failed to satisfy constraint"),
           kind="schema")

# -- curated value rules -------------------------------------------------------------------------

define("flow-log-interval", "error", "flow-log max_aggregation_interval is 60 or 600",
       "CreateFlowLogs accepts MaxAggregationInterval 60 or 600 seconds only and refuses any other value, "
       "so the flow log, and with it the whole apply, fails. Neither the CloudFormation schema nor the "
       "botocore model carries the set: it is documented only.",
       FLOW_LOGS_API, "set max_aggregation_interval to 600 (or 60)",
       aws_error=AwsError("InvalidParameter", 400, "Invalid Flow Log Max Aggregation Interval"))
define("vpc-cidr-range", "error", "a VPC's IPv4 CIDR is between /16 and /28",
       "CreateVpc refuses an IPv4 block larger than /16 or smaller than /28.",
       VPC_CIDRS, "use an IPv4 block between /16 and /28, e.g. 10.0.0.0/16",
       aws_error=AwsError("InvalidVpc.Range", 400, "The CIDR '{value}' is invalid."))
define("subnet-cidr-range", "error", "a subnet's IPv4 CIDR is between /16 and /28",
       "CreateSubnet refuses an IPv4 block larger than /16 or smaller than /28.",
       SUBNET_SIZING, "use an IPv4 block between /16 and /28 inside the VPC's CIDR",
       aws_error=AwsError("InvalidSubnet.Range", 400, "The CIDR '{value}' is invalid."))
define("tag-count", "error", "at most 50 tags per resource",
       "Every taggable AWS resource holds at most 50 user tags (the provider's default_tags count too); "
       "more are refused.",
       TAGGING, "drop tags until the resource has at most 50, default_tags included",
       aws_error=AwsError("TagLimitExceeded", 400, "The maximum number of Tags for a resource has been reached."))
define("tag-length", "error", "tag keys are 1-128 characters, values at most 256",
       "AWS refuses a tag key that is empty or longer than 128 characters, or a value longer than 256.",
       TAGGING, "shorten the tag key to 128 characters or fewer and the value to 256 or fewer",
       aws_error=AwsError("InvalidParameterValue", 400, "Value ({value}) for parameter tag is invalid."))
define("tag-reserved-prefix", "error", "tag keys do not start with aws:",
       "The aws: prefix is reserved for AWS's own tags; a user tag key starting with it is refused.",
       TAGGING, "rename the tag key so that it does not start with aws:",
       aws_error=AwsError("InvalidParameterValue", 400, "Value ( {value} ) for parameter key is invalid. "
                          "Tag keys starting with 'aws:' are reserved for internal use"))

#: the same curated rule answered by another service: (rule id, service) -> its refusal
SERVICE_ERRORS: dict[tuple[str, str], AwsError] = {
    ("tag-count", "iam"): AwsError("LimitExceeded", 409, "Cannot exceed quota for TagsPerRole: 50"),
    ("tag-count", "logs"): AwsError("InvalidParameterException", 400, "1 validation error detected: Value at "
                                    "'tags' failed to satisfy constraint: Member must have length less than or "
                                    "equal to 50"),
    ("tag-reserved-prefix", "iam"): AwsError("InvalidInput", 400, "User-defined tag keys can't start with 'aws:'. "
                                             "This prefix is reserved for AWS tags."),
    ("tag-reserved-prefix", "logs"): AwsError("InvalidParameterException", 400, "Tag keys starting with 'aws:' "
                                              "are reserved"),
}

TAG_CONSTRAINTS = [
    Constraint("list", "maxItems", 50, TAGGING, "tag-count"),
    Constraint("tag-key", "minLength", 1, TAGGING, "tag-length"),
    Constraint("tag-key", "maxLength", 128, TAGGING, "tag-length"),
    Constraint("tag-value", "maxLength", 256, TAGGING, "tag-length"),
    Constraint("tag-key", "not-prefix", "aws:", TAGGING, "tag-reserved-prefix"),
]
#: (tf type or "*", argument) -> curated constraints, each with its documented source
CURATED: dict[tuple[str, str], list[Constraint]] = {
    ("aws_flow_log", "max_aggregation_interval"): [
        Constraint("value", "enum", (60, 600), FLOW_LOGS_API, "flow-log-interval")],
    ("aws_vpc", "cidr_block"): [Constraint("value", "cidr-prefix", (16, 28), VPC_CIDRS, "vpc-cidr-range")],
    ("aws_subnet", "cidr_block"): [Constraint("value", "cidr-prefix", (16, 28), SUBNET_SIZING, "subnet-cidr-range")],
    ("*", "tags"): TAG_CONSTRAINTS,
    ("*", "default_tags.tags"): TAG_CONSTRAINTS,
}


def curated(tf_type: str, argument: str) -> list[Constraint]:
    return CURATED.get((tf_type, argument)) or CURATED.get(("*", argument)) or []


def _coerce(value: Any, cons: list[Constraint]) -> Any:
    """Terraform JSON may carry numbers as strings ("300"): compare them as numbers."""
    numeric = any(c.keyword in ("minimum", "maximum") or (c.keyword == "enum" and any(
        isinstance(b, int) and not isinstance(b, bool) for b in c.bound)) for c in cons)
    if numeric and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value


def _fix(c: Constraint, argument: str) -> str:
    k, b = c.keyword, c.bound
    what = {"tag-key": "the tag key", "tag-value": "the tag value", "item": f"each item of {argument}",
            "list": argument}.get(c.target, argument)
    if k == "enum":
        return f"set {what} to one of {', '.join(map(str, b))}"
    if k == "pattern":
        return f"make {what} match {b}"
    if k in ("maxLength", "maxItems"):
        return f"shorten {what} to at most {b} {'items' if k == 'maxItems' else 'characters'}"
    if k in ("minLength", "minItems"):
        return f"give {what} at least {b} {'items' if k == 'minItems' else 'characters'}"
    if k == "minimum":
        return f"set {what} to {b} or more"
    if k == "maximum":
        return f"set {what} to {b} or less"
    if k == "format":
        return f"make {what} a valid {b}"
    return RULES[c.rule].fix


def _aws_error(c: Constraint, service: str, value: Any, api_param: str | None) -> AwsError | None:
    rule = RULES[c.rule]
    if rule.kind == "schema" or (rule.id == "tag-length" and service != "ec2"):
        keyword = c.keyword if c.keyword in ("enum", "pattern", "maxLength", "minLength", "minimum", "maximum",
                                             "maxItems", "minItems") else "format"
        return validation_error(service, keyword, c.bound, value, api_param)
    err = SERVICE_ERRORS.get((rule.id, service), rule.aws_error)
    return err.render(value, api_param) if err else None


def check_value(tf_type: str, argument: str, value: Any, region: str | None, address: str,
                tm: TypeMap | None, arg: Arg | None) -> list[Finding]:
    """Every schema and curated constraint of one argument, applied to its Terraform value."""
    kind = arg.kind if arg else ("tags" if argument.endswith("tags") else "value")
    cons = constraints(tm, arg, region, curated(tf_type, argument)) if tm and arg else curated(tf_type, argument)
    if not cons or value is None:
        return []
    service = tm.service if tm else "ec2"
    api_param = (arg.api.split(".")[-1] if arg and arg.api else argument)
    api_param = api_param[:1].lower() + api_param[1:]
    subjects: list[tuple[str, Any]] = []  # (target, value)
    if kind == "tags":
        if not isinstance(value, dict):
            return []
        subjects.append(("list", value))
        subjects += [("tag-key", k) for k in value]
        subjects += [("tag-value", v) for v in value.values() if isinstance(v, str)]
    elif kind == "list":
        if not isinstance(value, list):
            return []
        subjects.append(("list", value))
        subjects += [("item", v) for v in value]
    elif kind == "policy":
        subjects.append(("value", value if isinstance(value, str) else json.dumps(value)))
    else:
        subjects.append(("value", value))
    out: list[Finding] = []
    seen: set[tuple[str, str, str]] = set()
    for target, subject in subjects:
        mine = [c for c in cons if c.target == target]
        subject = _coerce(subject, mine)
        for c in mine:
            if isinstance(subject, str) and not literal(subject):
                continue
            problem = c.violation(subject)
            if problem is None or (c.rule, target, repr(subject)) in seen:
                continue
            seen.add((c.rule, target, repr(subject)))
            shown = f"{len(subject)} {'tags' if kind == 'tags' else 'items'}" if target == "list" else repr(subject)
            label = {"tag-key": f"{argument} key", "tag-value": f"{argument} value",
                     "item": f"{argument} item"}.get(target, argument)
            out.append(Finding(RULES[c.rule], address, argument, subject, f"{label} {shown} {problem}",
                               _fix(c, argument), aws_error=_aws_error(c, service, subject, api_param),
                               source=c.source))
    return out
