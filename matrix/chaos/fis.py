"""An AWS FIS experiment template from our rules, for users to run on their own account.

AWS Fault Injection Service injects API faults into the calls made by chosen IAM roles, for EC2 only
(`aws:fis:inject-api-throttle-error`, `-internal-error`, `-unavailable-error`; parameters `service`
= "ec2", `operations` comma-separated, `percentage` 1-100, `duration` ISO 8601 between one minute and
12 hours; target `Roles` of resource type `aws:iam:role`). `fis_template(rules, ...)` maps:

* every rule that can touch EC2 with effect throttle (or error InternalError / Unavailable |
  ServiceUnavailable) -> one action (several when its operations exceed FIS's 1,024-character
  parameter limit); operation globs and `mutating` are expanded against botocore's EC2 operations;
* probability -> percentage; duration -> duration (clamped to FIS's 1 min .. 12 h, noted);
* start_after -> an `aws:fis:wait` action the fault action starts after.

What FIS cannot express (other services, latency, reset, first-N, max-count, region globs) is listed
in `FisTemplate.skipped`, never silently dropped. Run the result with
`aws fis create-experiment-template --cli-input-json file://template.json` (the CLI adds the client token).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from matrix.chaos import catalog
from matrix.chaos.protocol import RequestInfo
from matrix.chaos.rules import Rule, RuleSet
from matrix.errors import UsageError

THROTTLE = "aws:fis:inject-api-throttle-error"
INTERNAL = "aws:fis:inject-api-internal-error"
UNAVAILABLE = "aws:fis:inject-api-unavailable-error"
WAIT = "aws:fis:wait"
MAX_PARAM = 1024
MIN_SECONDS, MAX_SECONDS = 60, 12 * 3600
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")


@dataclass
class FisTemplate:
    template: dict[str, Any]
    skipped: list[str] = field(default_factory=list)   # rule: why FIS cannot express it
    notes: list[str] = field(default_factory=list)     # adjustments made (clamped durations, ...)

    def to_json(self) -> str:
        return json.dumps(self.template, indent=2, sort_keys=False)


def iso_duration(seconds: float) -> str:
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return "PT" + (f"{h}H" if h else "") + (f"{m}M" if m else "") + (f"{sec}S" if sec or not (h or m) else "")


def _action_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", text)[:64] or "action"


def _ec2_operations(r: Rule) -> list[str]:
    # region is not part of a FIS template (an experiment runs in the region it is created in)
    probe = Rule(name=r.name, effect=r.effect, services=r.services, operations=r.operations, mutating=r.mutating)
    return [op for op in sorted(catalog.operation_names("ec2"))
            if probe.selects(RequestInfo("ec2", "", op, "ec2", "POST"))]


def _chunks(ops: Sequence[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    size = 0
    for op in ops:
        extra = len(op) + (1 if out[-1] else 0)
        if out[-1] and size + extra > MAX_PARAM:
            out.append([])
            size, extra = 0, len(op)
        out[-1].append(op)
        size += extra
    return out


def fis_template(rules: RuleSet | Iterable[Rule], *, target_role_arns: Sequence[str], experiment_role_arn: str,
                 description: str = "stackmatrix: EC2 API faults from the chaos rules",
                 default_duration: float = 600.0, stop_alarm_arn: str | None = None,
                 tags: dict[str, str] | None = None) -> FisTemplate:
    """Build the template. `target_role_arns`: the roles whose EC2 calls get the faults (your deployer);
    `experiment_role_arn`: the role FIS assumes to run the experiment."""
    if not target_role_arns:
        raise UsageError("FIS template: target_role_arns is empty; name the IAM role(s) whose EC2 calls "
                         "should be throttled (arn:aws:iam::<account>:role/<name>)")
    for arn in [*target_role_arns, experiment_role_arn]:
        if not isinstance(arn, str) or not _ROLE_ARN.match(arn):
            raise UsageError(f"FIS template: role ARN {arn!r}: not an IAM role ARN "
                             "(arn:aws:iam::123456789012:role/name)")
    rule_list = list(rules.rules if isinstance(rules, RuleSet) else rules)
    out = FisTemplate({})
    actions: dict[str, Any] = {}
    for r in rule_list:
        if r.services and "ec2" not in r.services:
            out.skipped.append(f"{r.name}: services {', '.join(r.services)}: FIS injects API faults into EC2 only")
            continue
        if r.effect in ("latency", "reset"):
            out.skipped.append(f"{r.name}: effect {r.effect}: FIS API actions inject errors only")
            continue
        if r.effect == "throttle":
            action_id = THROTTLE
        elif r.code == "InternalError":
            action_id = INTERNAL
        elif r.code in ("Unavailable", "ServiceUnavailable"):
            action_id = UNAVAILABLE
        else:
            out.skipped.append(f"{r.name}: error {r.code}: FIS injects only throttle, InternalError and Unavailable")
            continue
        if r.first is not None or r.max_count is not None:
            out.skipped.append(f"{r.name}: first/max_count: FIS has no call budget; use a percentage and duration")
            continue
        if r.probability <= 0:
            out.skipped.append(f"{r.name}: probability 0 injects nothing")
            continue
        if r.regions:
            out.notes.append(f"{r.name}: region {', '.join(r.regions)}: a FIS experiment runs in the region "
                             "where you create the template; create it there")
        ops = _ec2_operations(r)
        if not ops:
            out.skipped.append(f"{r.name}: selects no EC2 operation")
            continue
        seconds = r.duration if r.duration is not None else default_duration
        clamped = min(max(seconds, MIN_SECONDS), MAX_SECONDS)
        if clamped != seconds:
            out.notes.append(f"{r.name}: duration {seconds:g} s clamped to {clamped:g} s (FIS: 1 min .. 12 h)")
        percentage = max(1, min(100, round(r.probability * 100)))
        start_after: list[str] = []
        if r.start_after:
            wait = _action_name(f"wait-{r.name}")
            wait_s = max(r.start_after, MIN_SECONDS)
            if wait_s != r.start_after:
                out.notes.append(f"{r.name}: start_after {r.start_after:g} s raised to {wait_s:g} s "
                                 "(FIS wait >= 1 min)")
            actions[wait] = {"actionId": WAIT, "description": f"start {r.name} later",
                             "parameters": {"duration": iso_duration(wait_s)}}
            start_after = [wait]
        chunks = _chunks(ops)
        for i, chunk in enumerate(chunks, 1):
            name = _action_name(r.name if len(chunks) == 1 else f"{r.name}-{i}")
            action: dict[str, Any] = {
                "actionId": action_id,
                "description": f"stackmatrix rule {r.name}",
                "parameters": {"service": "ec2", "operations": ",".join(chunk), "percentage": str(percentage),
                               "duration": iso_duration(clamped)},
                "targets": {"Roles": "Roles"},
            }
            if start_after:
                action["startAfter"] = start_after
            actions[name] = action
    if not actions:
        raise UsageError("FIS template: no rule can be expressed as a FIS EC2 API fault: "
                         + ("; ".join(out.skipped) or "no rules"))
    stop = ([{"source": "aws:cloudwatch:alarm", "value": stop_alarm_arn}] if stop_alarm_arn
            else [{"source": "none"}])
    out.template = {
        "description": description[:512],
        "targets": {"Roles": {"resourceType": "aws:iam:role", "resourceArns": list(target_role_arns),
                              "selectionMode": "ALL"}},
        "actions": actions,
        "stopConditions": stop,
        "roleArn": experiment_role_arn,
        "tags": {"Name": "stackmatrix-chaos", **(tags or {})},
    }
    return out
