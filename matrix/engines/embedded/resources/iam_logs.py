"""IAM and CloudWatch Logs resources of the stack (flow-log role, its inline policy, the log group),
and the account-level data sources (caller identity, region, partition).

IAM is account-global: the role's name must carry region and suffix (the synth policy checks it).
A log group's `arn` is stored without the trailing `:*`, as the AWS provider does.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from matrix.engines.embedded.resources.base import (
    Ctx,
    DataSource,
    Handler,
    error_code,
    ignore_codes,
    same_json,
)


def _kv_tags(tags: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"Key": k, "Value": str(v)} for k, v in sorted((tags or {}).items())]


class IamRole(Handler):
    type = "aws_iam_role"
    force_new = frozenset({"name", "path", "name_prefix"})
    updatable = frozenset({"assume_role_policy", "description", "max_session_duration"})
    json_args = frozenset({"assume_role_policy"})
    exports = frozenset({"id", "arn", "name", "unique_id", "create_date"})

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        iam = ctx.client("iam")
        kw: dict[str, Any] = {"RoleName": args["name"], "AssumeRolePolicyDocument": args["assume_role_policy"],
                              "Path": args.get("path", "/")}
        if args.get("tags_all"):
            kw["Tags"] = _kv_tags(args["tags_all"])
        if args.get("description"):
            kw["Description"] = args["description"]
        if args.get("max_session_duration"):
            kw["MaxSessionDuration"] = int(args["max_session_duration"])
        try:
            role = iam.create_role(**kw)["Role"]
        except ClientError as exc:
            if error_code(exc) != "EntityAlreadyExists":
                raise
            found = self.find(ctx, args)  # adopt only our own (same tags), else fail as AWS would
            if not found:
                raise
            return found
        return self._attrs(args, role)

    @staticmethod
    def _attrs(base: dict[str, Any], role: dict[str, Any]) -> dict[str, Any]:
        return {**base, "id": role["RoleName"], "name": role["RoleName"], "arn": role["Arn"],
                "unique_id": role.get("RoleId", ""), "path": role.get("Path", "/"),
                "create_date": str(role.get("CreateDate", ""))}

    def read(self, ctx: Ctx, attrs: dict[str, Any]) -> dict[str, Any] | None:
        iam = ctx.client("iam")
        try:
            role = iam.get_role(RoleName=attrs["id"])["Role"]
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                return None
            raise
        doc = role.get("AssumeRolePolicyDocument")
        doc = json.loads(unquote(doc)) if isinstance(doc, str) else doc
        live = self._attrs(attrs, role)
        live["assume_role_policy"] = json.dumps(doc, sort_keys=True) if doc is not None else None
        live["tags_all"] = {t["Key"]: t["Value"] for t in role.get("Tags", [])}
        return live

    def update(self, ctx: Ctx, attrs: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
        iam = ctx.client("iam")
        if not same_json(attrs.get("assume_role_policy"), args.get("assume_role_policy")):
            iam.update_assume_role_policy(RoleName=attrs["id"], PolicyDocument=args["assume_role_policy"])
        return super().update(ctx, attrs, args)

    def update_tags(self, ctx: Ctx, attrs: dict[str, Any], old: dict[str, str], new: dict[str, str]) -> None:
        iam = ctx.client("iam")
        removed = [k for k in old if k not in new]
        changed = {k: v for k, v in new.items() if old.get(k) != v}
        if removed:
            iam.untag_role(RoleName=attrs["id"], TagKeys=removed)
        if changed:
            iam.tag_role(RoleName=attrs["id"], Tags=_kv_tags(changed))

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        iam = ctx.client("iam")
        try:
            iam.delete_role(RoleName=attrs["id"])
        except ClientError as exc:
            code = error_code(exc)
            if code == "NoSuchEntity":
                return
            if code != "DeleteConflict":
                raise
            # inline policies left behind by an interrupted destroy: remove them, then the role
            for name in iam.list_role_policies(RoleName=attrs["id"]).get("PolicyNames", []):
                ignore_codes(lambda n=name: iam.delete_role_policy(RoleName=attrs["id"], PolicyName=n),
                             "NoSuchEntity")
            ignore_codes(lambda: iam.delete_role(RoleName=attrs["id"]), "NoSuchEntity")

    def find(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any] | None:
        live = self.read(ctx, {**args, "id": args["name"]})
        want = args.get("tags_all") or {}
        if live and all(live.get("tags_all", {}).get(k) == v for k, v in want.items()):
            return live
        return None


class IamRolePolicy(Handler):
    type = "aws_iam_role_policy"
    taggable = False
    force_new = frozenset({"name", "role"})
    updatable = frozenset({"policy"})
    json_args = frozenset({"policy"})
    exports = frozenset({"id", "name", "role", "policy"})

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        ctx.client("iam").put_role_policy(RoleName=args["role"], PolicyName=args["name"],
                                          PolicyDocument=args["policy"])
        return {**args, "id": f"{args['role']}:{args['name']}"}

    def read(self, ctx: Ctx, attrs: dict[str, Any]) -> dict[str, Any] | None:
        try:
            out = ctx.client("iam").get_role_policy(RoleName=attrs["role"], PolicyName=attrs["name"])
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                return None
            raise
        doc = out["PolicyDocument"]
        doc = json.loads(unquote(doc)) if isinstance(doc, str) else doc
        return {**attrs, "policy": json.dumps(doc, sort_keys=True)}

    def update(self, ctx: Ctx, attrs: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
        return self.create(ctx, args)

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        ignore_codes(lambda: ctx.client("iam").delete_role_policy(RoleName=attrs["role"], PolicyName=attrs["name"]),
                     "NoSuchEntity")


class LogGroup(Handler):
    type = "aws_cloudwatch_log_group"
    force_new = frozenset({"name", "name_prefix", "kms_key_id", "log_group_class"})
    updatable = frozenset({"retention_in_days"})
    exports = frozenset({"id", "arn", "name"})

    def _arn(self, ctx: Ctx, name: str) -> str:
        return f"arn:aws:logs:{ctx.region}:{ctx.clients.access.account_id}:log-group:{name}"

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        logs = ctx.client("logs")
        kw: dict[str, Any] = {"logGroupName": args["name"]}
        if args.get("tags_all"):
            kw["tags"] = dict(args["tags_all"])
        if args.get("kms_key_id"):
            kw["kmsKeyId"] = args["kms_key_id"]
        try:
            logs.create_log_group(**kw)
        except ClientError as exc:
            if error_code(exc) != "ResourceAlreadyExistsException":
                raise
            found = self.find(ctx, args)
            if not found:
                raise
            return found
        if args.get("retention_in_days"):
            logs.put_retention_policy(logGroupName=args["name"], retentionInDays=int(args["retention_in_days"]))
        return {**args, "id": args["name"], "arn": self._arn(ctx, args["name"])}

    def read(self, ctx: Ctx, attrs: dict[str, Any]) -> dict[str, Any] | None:
        logs = ctx.client("logs")
        groups = logs.describe_log_groups(logGroupNamePrefix=attrs["id"]).get("logGroups", [])
        group = next((g for g in groups if g["logGroupName"] == attrs["id"]), None)
        if group is None:
            return None
        arn = group.get("logGroupArn") or group.get("arn", "").removesuffix(":*")
        tags = logs.list_tags_for_resource(resourceArn=arn).get("tags", {}) if arn else {}
        return {**attrs, "name": group["logGroupName"], "arn": arn or attrs.get("arn"),
                "retention_in_days": group.get("retentionInDays", 0), "tags_all": tags}

    def update(self, ctx: Ctx, attrs: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
        logs = ctx.client("logs")
        if str(attrs.get("retention_in_days")) != str(args.get("retention_in_days")):
            if args.get("retention_in_days"):
                logs.put_retention_policy(logGroupName=attrs["id"], retentionInDays=int(args["retention_in_days"]))
            else:
                logs.delete_retention_policy(logGroupName=attrs["id"])
        return super().update(ctx, attrs, args)

    def update_tags(self, ctx: Ctx, attrs: dict[str, Any], old: dict[str, str], new: dict[str, str]) -> None:
        logs = ctx.client("logs")
        removed = [k for k in old if k not in new]
        changed = {k: v for k, v in new.items() if old.get(k) != v}
        if removed:
            logs.untag_resource(resourceArn=attrs["arn"], tagKeys=removed)
        if changed:
            logs.tag_resource(resourceArn=attrs["arn"], tags=changed)

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        ignore_codes(lambda: ctx.client("logs").delete_log_group(logGroupName=attrs["id"]),
                     "ResourceNotFoundException")

    def find(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any] | None:
        live = self.read(ctx, {**args, "id": args["name"], "arn": self._arn(ctx, args["name"])})
        want = args.get("tags_all") or {}
        if live and all(live.get("tags_all", {}).get(k) == v for k, v in want.items()):
            return live
        return None


class CallerIdentity(DataSource):
    type = "aws_caller_identity"
    exports = frozenset({"id", "account_id", "arn", "user_id"})

    def read(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        me = ctx.client("sts").get_caller_identity()
        return {"id": me["Account"], "account_id": me["Account"], "arn": me["Arn"], "user_id": me["UserId"]}


class Region(DataSource):
    type = "aws_region"
    exports = frozenset({"id", "name", "region", "endpoint", "description"})

    def read(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        region = args.get("region") or args.get("name") or ctx.region
        return {"id": region, "name": region, "region": region, "endpoint": f"ec2.{region}.amazonaws.com",
                "description": ""}


class Partition(DataSource):
    type = "aws_partition"
    exports = frozenset({"id", "partition", "dns_suffix", "reverse_dns_prefix"})

    def read(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        partition = "aws-cn" if ctx.region.startswith("cn-") else (
            "aws-us-gov" if ctx.region.startswith("us-gov-") else "aws")
        suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
        return {"id": partition, "partition": partition, "dns_suffix": suffix,
                "reverse_dns_prefix": ".".join(reversed(suffix.split(".")))}


HANDLERS = [IamRole, IamRolePolicy, LogGroup]
DATA_SOURCES = [CallerIdentity, Region, Partition]
