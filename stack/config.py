"""Parameters of one VpcStack: plain data, validated, importable without the CDK.

`StackConfig` is everything a cell hands to the stack: region, suffix, run id, network shape,
flow-log settings, backend settings and (only when a target asks) emulator endpoints. Every name the
stack derives (IAM role, log group, bucket, key, Name tags) is computed here, so the matrix can
validate a whole profile before any CDK code is imported, and the policy suite can compare what was
synthesized with what was asked for.

Construction refuses values AWS would refuse later (flow-log interval other than 60/600, a log
retention CloudWatch does not offer, overlapping or oversized subnets, names over AWS limits) with a
`StackConfigError` that names the field, the value and what is allowed.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass, field
from typing import Any

#: AWS accepts only these flow-log aggregation intervals (seconds).
FLOW_LOG_INTERVALS = (60, 600)
#: Retention values CloudWatch Logs accepts (PutRetentionPolicy).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
)
NAT_MODES = ("per-az", "single")
LOCKING_MODES = ("lockfile", "dynamodb", "both")

BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
IAM_ROLE_RE = re.compile(r"^[\w+=,.@-]{1,64}$")
DYNAMODB_TABLE_RE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
LOG_GROUP_RE = re.compile(r"^[.\-_/#A-Za-z0-9]{1,512}$")
SUFFIX_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


class StackConfigError(ValueError):
    """A stack parameter AWS (or the stack) would refuse: names field, value and what is allowed."""


@dataclass(frozen=True)
class BackendConfig:
    """The S3 state backend of one stack; names come from the profile, never from the class."""

    bucket: str
    key: str
    region: str
    locking: str = "lockfile"
    dynamodb_table: str | None = None
    encrypt: bool = True

    @property
    def use_lockfile(self) -> bool:
        return self.locking in ("lockfile", "both")

    @property
    def lock_table(self) -> str | None:
        return self.dynamodb_table if self.locking in ("dynamodb", "both") else None


@dataclass(frozen=True)
class EmulatorEndpoints:
    """Where an emulator target listens; only ever set for moto or LocalStack, never for AWS."""

    url: str
    access_key: str = "test"
    secret_key: str = "test"  # noqa: S105 - emulator test key, not a secret


@dataclass(frozen=True)
class StackConfig:
    region: str
    suffix: str
    backend: BackendConfig
    stack_id: str = ""
    project: str = "stackmatrix"
    qualifier: str | None = None
    run_id: str | None = None
    vpc_cidr: str = "10.0.0.0/16"
    az_count: int = 3
    nat_mode: str = "per-az"
    flow_log_interval: int = 600
    log_retention_days: int = 14
    endpoints: EmulatorEndpoints | None = None
    extra_tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StackConfig:
        data = dict(data)
        data["backend"] = BackendConfig(**data["backend"])
        if data.get("endpoints"):
            data["endpoints"] = EmulatorEndpoints(**data["endpoints"])
        return cls(**data)

    def __post_init__(self) -> None:
        if not self.stack_id:
            object.__setattr__(self, "stack_id", f"vpc-{self.name_suffix}-{self.region}")
        for problem in self.problems():
            raise StackConfigError(problem)

    # -- derived names -----------------------------------------------------------------------
    @property
    def name_suffix(self) -> str:
        """The suffix every Name carries; a fault qualifier keeps sibling cells apart."""
        return f"{self.suffix}-{self.qualifier}" if self.qualifier else self.suffix

    def name(self, kind: str) -> str:
        return f"{self.project}-{self.name_suffix}-{kind}"

    @property
    def role_name(self) -> str:
        """IAM is account-global: region and suffix keep the cells of one account apart."""
        return f"{self.project}-flowlogs-{self.region}-{self.name_suffix}"

    @property
    def role_policy_name(self) -> str:
        return f"{self.project}-flowlogs-{self.name_suffix}"

    @property
    def log_group_name(self) -> str:
        return f"/{self.project}/vpc-flow-logs/{self.name_suffix}"

    @property
    def tags(self) -> dict[str, str]:
        """Default tags applied by the provider to every taggable resource."""
        tags = {
            "Project": self.project,
            "Region": self.region,
            "EnvironmentSuffix": self.suffix,
            "ManagedBy": "stackmatrix",
        }
        if self.qualifier:
            tags["Fault"] = self.qualifier
        tags.update(self.extra_tags)
        return tags

    # -- network -----------------------------------------------------------------------------
    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.ip_network(self.vpc_cidr, strict=True)  # type: ignore[return-value]

    def subnet_cidrs(self) -> tuple[list[str], list[str]]:
        """(public, private) CIDRs: the VPC split in 16 blocks, public from 0, private from 8."""
        blocks = list(self.network.subnets(prefixlen_diff=4))
        public = [str(blocks[i]) for i in range(self.az_count)]
        private = [str(blocks[8 + i]) for i in range(self.az_count)]
        return public, private

    # -- validation --------------------------------------------------------------------------
    def problems(self) -> list[str]:
        """Every way this configuration would fail in AWS, as sentences naming field and fix."""
        out: list[str] = []
        if not SUFFIX_RE.match(self.suffix or ""):
            out.append(
                f"suffix {self.suffix!r}: use lowercase letters, digits and inner hyphens "
                "(it becomes part of S3 and IAM names)"
            )
        if self.flow_log_interval not in FLOW_LOG_INTERVALS:
            out.append(
                f"flow_log_interval {self.flow_log_interval!r}: AWS accepts only 60 or 600 seconds "
                "for max_aggregation_interval; set 600 (default) or 60"
            )
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            out.append(
                f"log_retention_days {self.log_retention_days!r}: CloudWatch Logs accepts only "
                f"{', '.join(map(str, LOG_RETENTION_DAYS))}"
            )
        if self.nat_mode not in NAT_MODES:
            out.append(f"nat_mode {self.nat_mode!r}: use one of {', '.join(NAT_MODES)}")
        if not isinstance(self.az_count, int) or not 1 <= self.az_count <= 8:
            out.append(f"az_count {self.az_count!r}: use 1 to 8 availability zones")
        try:
            net = ipaddress.ip_network(self.vpc_cidr, strict=True)
            if net.version != 4 or not 16 <= net.prefixlen <= 24:
                out.append(
                    f"vpc_cidr {self.vpc_cidr!r}: use an IPv4 block from /16 to /24 (AWS VPC limits, "
                    "and room for 16 subnets)"
                )
        except ValueError as exc:
            out.append(f"vpc_cidr {self.vpc_cidr!r}: {exc}; use e.g. 10.0.0.0/16")
        out.extend(self._name_problems())
        b = self.backend
        if b.locking not in LOCKING_MODES:
            out.append(f"backend.locking {b.locking!r}: use one of {', '.join(LOCKING_MODES)}")
        elif b.locking in ("dynamodb", "both") and not b.dynamodb_table:
            out.append(
                f"backend.locking {b.locking!r} needs backend.dynamodb_table (the table must exist, "
                "or run with --bootstrap-backend)"
            )
        if not b.encrypt:
            out.append("backend.encrypt is false: state holds secrets in clear; set encrypt = true")
        return out

    def _name_problems(self) -> list[str]:
        out = []
        checks = [
            ("S3 state bucket", self.backend.bucket, BUCKET_RE,
             "3-63 characters: lowercase letters, digits, dots, hyphens"),
            ("IAM role name", self.role_name, IAM_ROLE_RE, "at most 64 characters of [A-Za-z0-9+=,.@_-]"),
            ("log group name", self.log_group_name, LOG_GROUP_RE, "at most 512 characters"),
        ]
        if self.backend.dynamodb_table:
            checks.append(("DynamoDB lock table", self.backend.dynamodb_table, DYNAMODB_TABLE_RE,
                           "3-255 characters of [A-Za-z0-9_.-]"))
        for what, value, pattern, allowed in checks:
            if not pattern.match(value) or ".." in value:
                out.append(
                    f"{what} {value!r} derived from suffix {self.name_suffix!r} is invalid: {allowed}; "
                    "shorten the suffix or the name template"
                )
        return out
