"""IAM and CloudWatch Logs resources of the stack (flow-log role, its inline policy, the log group),
and the account-level data sources (caller identity, region, partition).

IAM is account-global: the role's name must carry region and suffix (the synth policy checks it).
A log group's `arn` is stored without the trailing `:*`, as the AWS provider does. Names left out
of the configuration (or given as `name_prefix`) are generated the way terraform generates them
(`unique_name`), so the state and AWS agree on them.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from typing import Any

from botocore.exceptions import ClientError

from matrix.engines.embedded.arguments.normalize import policy
from matrix.engines.embedded.arguments.spec import (
    ID,
    REGION,
    TAGS,
    TAGS_ALL,
    inplace,
    local,
    refused,
    replace,
    selector,
)
from matrix.engines.embedded.resources.base import (
    Ctx,
    DataSource,
    Handler,
    blocks,
    error_code,
    from_ec2_tags,
    given,
    ignore_codes,
    tag_changes,
)

UNIQUE_SUFFIX = re.compile(r"\d{18}[0-9a-f]{8}$")
_counter = itertools.count(1)
_counter_lock = threading.Lock()
EXCLUSIVE = "managed exclusively, as the provider does: what the configuration does not list is removed"
NAME_PREFIX = replace("a unique name with this prefix, generated as terraform generates it")


def unique_name(prefix: str | None) -> str:
    """terraform's PrefixedUniqueId: prefix + UTC time to 1/10000 s + an 8-hex counter (26 chars)."""
    now = time.time()
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(now)) + f"{int(now % 1 * 10000):04d}"
    with _counter_lock:
        n = next(_counter)
    return f"{'terraform-' if prefix is None else prefix}{stamp}{n:08x}"


def name_of(args: dict[str, Any]) -> str:
    return args["name"] if given(args, "name") else unique_name(args.get("name_prefix"))


def prefix_of(name: str) -> str | None:
    """The name_prefix a generated name was made from (the provider's NamePrefixFromName)."""
    return name[:-26] if UNIQUE_SUFFIX.search(name) and len(name) >= 26 else None


def _kv_tags(tags: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"Key": k, "Value": str(v)} for k, v in sorted((tags or {}).items())]


def _document(doc: Any) -> str | None:
    """A policy document as AWS returns it (dict, or URL-encoded JSON) -> JSON text."""
    return None if doc is None else json.dumps(policy(doc), sort_keys=True)


class IamRole(Handler):
    type = "aws_iam_role"
    sweep_rank = 11

    def leftovers(self, ctx, query):
        iam = ctx.client("iam")
        for page in iam.get_paginator("list_roles").paginate():
            for r in page.get("Roles", []):
                if query.iam_prefix and not r["RoleName"].startswith(query.iam_prefix):
                    continue
                try:
                    found = from_ec2_tags(iam.list_role_tags(RoleName=r["RoleName"]).get("Tags"))
                except ClientError as exc:
                    if error_code(exc) == "NoSuchEntity":
                        continue
                    raise
                if found.get("Region", ctx.region) != ctx.region:
                    continue  # a sibling cell's role in another region
                yield query.leftover(self.type, r["RoleName"], {"name": r["RoleName"]}, found)

    args = {
        "name": replace(),
        "name_prefix": NAME_PREFIX,
        "path": replace(),
        "assume_role_policy": inplace("UpdateAssumeRolePolicy", compare="policy"),
        "description": inplace("UpdateRole"),
        "max_session_duration": inplace("UpdateRole"),
        "permissions_boundary": inplace("PutRolePermissionsBoundary / DeleteRolePermissionsBoundary"),
        "managed_policy_arns": inplace(f"AttachRolePolicy / DetachRolePolicy, {EXCLUSIVE}", compare="set"),
        "inline_policy": inplace(f"PutRolePolicy / DeleteRolePolicy, {EXCLUSIVE}", compare="blockset"),
        "inline_policy.name": inplace("see inline_policy"),
        "inline_policy.policy": inplace("see inline_policy"),
        "force_detach_policies": local("honoured at destroy: managed policies are detached and inline policies "
                                       "deleted before the role"),
        "id": ID, "tags": TAGS, "tags_all": TAGS_ALL,
    }
    defaults = {"path": "/", "max_session_duration": 3600, "description": "", "permissions_boundary": ""}
    exports = frozenset({"id", "arn", "name", "unique_id", "create_date"})

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        iam = ctx.client("iam")
        name = name_of(args)
        kw: dict[str, Any] = {"RoleName": name, "AssumeRolePolicyDocument": args["assume_role_policy"],
                              "Path": args.get("path") or "/"}
        if args.get("tags_all"):
            kw["Tags"] = _kv_tags(args["tags_all"])
        for arg, key in (("description", "Description"), ("permissions_boundary", "PermissionsBoundary")):
            if args.get(arg):
                kw[key] = args[arg]
        if given(args, "max_session_duration"):
            kw["MaxSessionDuration"] = int(args["max_session_duration"])
        try:
            role = iam.create_role(**kw)["Role"]
        except ClientError as exc:
            if error_code(exc) != "EntityAlreadyExists":
                raise
            found = self.find(ctx, {**args, "name": name})  # adopt only our own (same tags), else fail as AWS would
            if not found:
                raise
            return found
        for arn in args.get("managed_policy_arns") or []:
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        for block in blocks(args.get("inline_policy")):
            if block.get("name"):
                iam.put_role_policy(RoleName=name, PolicyName=block["name"], PolicyDocument=block["policy"])
        return self._computed(role)

    @staticmethod
    def _computed(role: dict[str, Any]) -> dict[str, Any]:
        return {"id": role["RoleName"], "name": role["RoleName"], "arn": role["Arn"],
                "unique_id": role.get("RoleId", ""), "create_date": str(role.get("CreateDate", ""))}

    def read_one(self, ctx, attrs, wanted):
        iam = ctx.client("iam")
        try:
            role = iam.get_role(RoleName=attrs["id"])["Role"]
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                return None
            raise
        live = {**self._computed(role), "path": role.get("Path", "/"), "name_prefix": prefix_of(role["RoleName"]),
                "assume_role_policy": _document(role.get("AssumeRolePolicyDocument")),
                "description": role.get("Description", ""), "max_session_duration": role.get("MaxSessionDuration"),
                "permissions_boundary": (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn", ""),
                "tags_all": {t["Key"]: t["Value"] for t in role.get("Tags", [])}}
        if "managed_policy_arns" in wanted:
            pages = iam.get_paginator("list_attached_role_policies").paginate(RoleName=attrs["id"])
            live["managed_policy_arns"] = sorted(p["PolicyArn"] for page in pages for p in page["AttachedPolicies"])
        if "inline_policy" in wanted:
            get = iam.get_role_policy
            live["inline_policy"] = [
                {"name": n, "policy": _document(get(RoleName=attrs["id"], PolicyName=n)["PolicyDocument"])}
                for n in self._inline_names(iam, attrs["id"])]
        return live

    @staticmethod
    def _inline_names(iam: Any, role: str) -> list[str]:
        pages = iam.get_paginator("list_role_policies").paginate(RoleName=role)
        return sorted(n for page in pages for n in page["PolicyNames"])

    def update(self, ctx, attrs, args, changed):
        iam = ctx.client("iam")
        role = attrs["id"]
        rest = set(changed)
        if rest & {"description", "max_session_duration"}:
            iam.update_role(RoleName=role, Description=args.get("description") or "",
                            MaxSessionDuration=int(args.get("max_session_duration") or 3600))
            rest -= {"description", "max_session_duration"}
        if "assume_role_policy" in rest:
            iam.update_assume_role_policy(RoleName=role, PolicyDocument=args["assume_role_policy"])
        if "permissions_boundary" in rest:
            if args.get("permissions_boundary"):
                iam.put_role_permissions_boundary(RoleName=role, PermissionsBoundary=args["permissions_boundary"])
            else:
                iam.delete_role_permissions_boundary(RoleName=role)
        if "managed_policy_arns" in rest:
            have, want = set(attrs.get("managed_policy_arns") or []), set(args.get("managed_policy_arns") or [])
            for arn in sorted(have - want):
                iam.detach_role_policy(RoleName=role, PolicyArn=arn)
            for arn in sorted(want - have):
                iam.attach_role_policy(RoleName=role, PolicyArn=arn)
        if "inline_policy" in rest:
            want = {b["name"]: b["policy"] for b in blocks(args.get("inline_policy")) if b.get("name")}
            have = {b["name"]: b.get("policy") for b in blocks(attrs.get("inline_policy"))}
            for name in sorted(set(have) - set(want)):
                ignore_codes(lambda n=name: iam.delete_role_policy(RoleName=role, PolicyName=n), "NoSuchEntity")
            for name, doc in sorted(want.items()):
                if policy(doc) != policy(have.get(name)):
                    iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=doc)
        rest -= {"assume_role_policy", "permissions_boundary", "managed_policy_arns", "inline_policy"}
        return super().update(ctx, attrs, args, rest)

    def update_tags(self, ctx: Ctx, attrs: dict[str, Any], old: dict[str, str], new: dict[str, str]) -> None:
        iam = ctx.client("iam")
        removed, changed = tag_changes(old, new)
        if removed:
            iam.untag_role(RoleName=attrs["id"], TagKeys=removed)
        if changed:
            iam.tag_role(RoleName=attrs["id"], Tags=_kv_tags(changed))

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        iam = ctx.client("iam")
        role = attrs["id"]
        if attrs.get("force_detach_policies"):
            self._detach_all(iam, role, managed=None)
        try:
            iam.delete_role(RoleName=role)
        except ClientError as exc:
            code = error_code(exc)
            if code == "NoSuchEntity":
                return
            if code != "DeleteConflict":
                raise
            # inline policies left behind by an interrupted destroy, and the managed policies this
            # configuration attached: remove them, then the role
            self._detach_all(iam, role, managed=attrs.get("managed_policy_arns") or [])
            ignore_codes(lambda: iam.delete_role(RoleName=role), "NoSuchEntity")

    def _detach_all(self, iam: Any, role: str, managed: list[str] | None) -> None:
        """Delete every inline policy; detach `managed` (None: every attached managed policy)."""
        try:
            names = self._inline_names(iam, role)
            if managed is None:
                pages = iam.get_paginator("list_attached_role_policies").paginate(RoleName=role)
                managed = [p["PolicyArn"] for page in pages for p in page["AttachedPolicies"]]
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                return
            raise
        for name in names:
            ignore_codes(lambda n=name: iam.delete_role_policy(RoleName=role, PolicyName=n), "NoSuchEntity")
        for arn in managed:
            ignore_codes(lambda a=arn: iam.detach_role_policy(RoleName=role, PolicyArn=a), "NoSuchEntity")

    def find(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any] | None:
        if not given(args, "name"):
            return None  # a generated name cannot be found again
        live = self.read(ctx, {"id": args["name"]})
        want = args.get("tags_all") or {}
        if live and all(live.get("tags_all", {}).get(k) == v for k, v in want.items()):
            return {k: live[k] for k in ("id", "name", "arn", "unique_id", "create_date")}
        return None


class IamRolePolicy(Handler):
    type = "aws_iam_role_policy"
    sweep_rank = 9
    deleted_with_parent = True  # the role's delete removes its inline policies
    taggable = False
    args = {
        "role": replace(),
        "name": replace(),
        "name_prefix": NAME_PREFIX,
        "policy": inplace("PutRolePolicy", compare="policy"),
        "id": ID,
    }
    exports = frozenset({"id", "name", "role", "policy"})

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        name = name_of(args)
        ctx.client("iam").put_role_policy(RoleName=args["role"], PolicyName=name, PolicyDocument=args["policy"])
        return {"id": f"{args['role']}:{name}", "name": name}

    def read_one(self, ctx, attrs, wanted):
        try:
            out = ctx.client("iam").get_role_policy(RoleName=attrs["role"], PolicyName=attrs["name"])
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                return None
            raise
        return {"id": f"{out['RoleName']}:{out['PolicyName']}", "role": out["RoleName"], "name": out["PolicyName"],
                "name_prefix": prefix_of(out["PolicyName"]), "policy": _document(out["PolicyDocument"])}

    def update_arg(self, ctx, attrs, args, arg):
        if arg != "policy":
            return super().update_arg(ctx, attrs, args, arg)
        ctx.client("iam").put_role_policy(RoleName=attrs["role"], PolicyName=attrs["name"],
                                          PolicyDocument=args["policy"])
        return None

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        ignore_codes(lambda: ctx.client("iam").delete_role_policy(RoleName=attrs["role"], PolicyName=attrs["name"]),
                     "NoSuchEntity")

    def find(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any] | None:
        if not given(args, "name"):
            return None
        live = self.read(ctx, {"role": args["role"], "name": args["name"]})
        return {"id": live["id"], "name": live["name"]} if live else None


class LogGroup(Handler):
    type = "aws_cloudwatch_log_group"
    sweep_rank = 10

    def leftovers(self, ctx, query):
        logs = ctx.client("logs")
        for page in logs.get_paginator("describe_log_groups").paginate():
            for g in page.get("logGroups", []):
                arn = g.get("logGroupArn") or g.get("arn", "").removesuffix(":*")
                found = logs.list_tags_for_resource(resourceArn=arn).get("tags", {}) if arn else {}
                yield query.leftover(self.type, g["logGroupName"], {"name": g["logGroupName"], "arn": arn}, found)

    args = {
        "name": replace(),
        "name_prefix": NAME_PREFIX,
        "retention_in_days": inplace("PutRetentionPolicy / DeleteRetentionPolicy"),
        "kms_key_id": replace("the emulators do not implement AssociateKmsKey (probe logs-associate-kms-key): a "
                              "change replaces the log group"),
        "log_group_class": refused("the emulators do not store it", probe="logs-group-class"),
        "deletion_protection_enabled": refused("the emulators do not store it", probe="logs-deletion-protection"),
        "skip_destroy": local("honoured at destroy: the log group is forgotten by the state and left in AWS"),
        "id": ID, "region": REGION, "tags": TAGS, "tags_all": TAGS_ALL,
    }
    defaults = {"retention_in_days": 0}
    exports = frozenset({"id", "arn", "name"})

    def _arn(self, ctx: Ctx, name: str) -> str:
        return f"arn:aws:logs:{ctx.region}:{ctx.clients.access.account_id}:log-group:{name}"

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        logs = ctx.client("logs")
        name = name_of(args)
        kw: dict[str, Any] = {"logGroupName": name}
        if args.get("tags_all"):
            kw["tags"] = dict(args["tags_all"])
        if args.get("kms_key_id"):
            kw["kmsKeyId"] = args["kms_key_id"]
        try:
            logs.create_log_group(**kw)
        except ClientError as exc:
            if error_code(exc) != "ResourceAlreadyExistsException":
                raise
            found = self.find(ctx, {**args, "name": name})  # ours (same tags), left by an interrupted run
            if not found:
                raise
            if args.get("retention_in_days"):
                logs.put_retention_policy(logGroupName=name, retentionInDays=int(args["retention_in_days"]))
            return found
        if args.get("retention_in_days"):
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(args["retention_in_days"]))
        return {"id": name, "name": name, "arn": self._arn(ctx, name)}

    def read_one(self, ctx, attrs, wanted):
        logs = ctx.client("logs")
        groups = logs.describe_log_groups(logGroupNamePrefix=attrs["id"]).get("logGroups", [])
        group = next((g for g in groups if g["logGroupName"] == attrs["id"]), None)
        if group is None:
            return None
        arn = group.get("logGroupArn") or group.get("arn", "").removesuffix(":*")
        tags = logs.list_tags_for_resource(resourceArn=arn).get("tags", {}) if arn else {}
        return {"id": group["logGroupName"], "name": group["logGroupName"], "arn": arn or self._arn(ctx, attrs["id"]),
                "name_prefix": prefix_of(group["logGroupName"]), "kms_key_id": group.get("kmsKeyId"),
                "retention_in_days": group.get("retentionInDays", 0), "tags_all": tags}

    def update_arg(self, ctx, attrs, args, arg):
        if arg != "retention_in_days":
            return super().update_arg(ctx, attrs, args, arg)
        logs = ctx.client("logs")
        if args.get("retention_in_days"):
            logs.put_retention_policy(logGroupName=attrs["id"], retentionInDays=int(args["retention_in_days"]))
        else:
            logs.delete_retention_policy(logGroupName=attrs["id"])
        return None

    def update_tags(self, ctx: Ctx, attrs: dict[str, Any], old: dict[str, str], new: dict[str, str]) -> None:
        logs = ctx.client("logs")
        removed, changed = tag_changes(old, new)
        if removed:
            logs.untag_resource(resourceArn=attrs["arn"], tagKeys=removed)
        if changed:
            logs.tag_resource(resourceArn=attrs["arn"], tags=changed)

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        if attrs.get("skip_destroy"):
            ctx.log(f"log group {attrs['id']}: skip_destroy is set: removed from the state, left in AWS")
            return
        ignore_codes(lambda: ctx.client("logs").delete_log_group(logGroupName=attrs["id"]),
                     "ResourceNotFoundException")

    def find(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any] | None:
        if not given(args, "name"):
            return None
        live = self.read(ctx, {"id": args["name"]})
        want = args.get("tags_all") or {}
        if live and all(live.get("tags_all", {}).get(k) == v for k, v in want.items()):
            return {k: live[k] for k in ("id", "name", "arn")}
        return None


class CallerIdentity(DataSource):
    type = "aws_caller_identity"
    args = {"id": ID}
    exports = frozenset({"id", "account_id", "arn", "user_id"})

    def read(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        me = ctx.client("sts").get_caller_identity()
        return {"id": me["Account"], "account_id": me["Account"], "arn": me["Arn"], "user_id": me["UserId"]}


class Region(DataSource):
    type = "aws_region"
    args = {
        "region": selector("the region described (default: the provider's)"),
        "name": selector("the same, under its deprecated name"),
        "endpoint": selector("the region whose EC2 endpoint (ec2.<region>.amazonaws.com) this is"),
        "id": ID,
    }
    exports = frozenset({"id", "name", "region", "endpoint", "description"})

    def read(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        region = args.get("region") or args.get("name")
        if args.get("endpoint"):
            m = re.fullmatch(r"ec2\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?", str(args["endpoint"]))
            if not m or (region and region != m.group(1)):
                raise ValueError(f"data.aws_region: no region has the EC2 endpoint {args['endpoint']!r}")
            region = m.group(1)
        region = region or ctx.region
        return {"id": region, "name": region, "region": region, "endpoint": f"ec2.{region}.amazonaws.com",
                "description": ""}


class Partition(DataSource):
    type = "aws_partition"
    args = {"id": ID}
    exports = frozenset({"id", "partition", "dns_suffix", "reverse_dns_prefix"})

    def read(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        partition = "aws-cn" if ctx.region.startswith("cn-") else (
            "aws-us-gov" if ctx.region.startswith("us-gov-") else "aws")
        suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
        return {"id": partition, "partition": partition, "dns_suffix": suffix,
                "reverse_dns_prefix": ".".join(reversed(suffix.split(".")))}


HANDLERS = [IamRole, IamRolePolicy, LogGroup]
DATA_SOURCES = [CallerIdentity, Region, Partition]
