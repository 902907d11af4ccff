"""Synth policy rules: named checks over a synthesized `cdk.tf.json`, before anything is deployed.

The rules read resource types, arguments and `${...}` references, never our construct ids, so they
work on any user's CDKTF (or plain Terraform JSON) stack. Each violation names the rule, the
resource address and the fix.

Parts:
* `SynthDoc`      one parsed cdk.tf.json with the lookups rules need (resources, references, tags);
* `RULES`         per-cell rules, `rule_id -> function(doc, ctx) -> violations`;
* `CROSS_RULES`   rules over all cells of a run (account-global names);
* `check_docs()`  runs everything and returns the violations, used by `python -m matrix check`
                  and by the pytest suite in this folder.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REF_RE = re.compile(r"\$\{([^}]*)\}")
ADDR_RE = re.compile(r"^(?:(data)\.)?([a-z0-9_]+)\.([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_]+))?")
REGION_RE = re.compile(r"\b(?:[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d)\b")

#: Resource types whose `tags` argument exists (the ones a VPC stack typically uses, and more).
TAGGABLE = {
    "aws_vpc", "aws_subnet", "aws_internet_gateway", "aws_eip", "aws_nat_gateway",
    "aws_route_table", "aws_vpc_endpoint", "aws_cloudwatch_log_group", "aws_iam_role",
    "aws_flow_log", "aws_security_group", "aws_s3_bucket", "aws_dynamodb_table", "aws_iam_policy",
    "aws_kms_key", "aws_network_acl", "aws_egress_only_internet_gateway", "aws_iam_user",
}
#: Account-global (not regional) names: two cells in one account must not share them.
GLOBAL_NAMES = {
    "aws_iam_role": "name", "aws_iam_policy": "name", "aws_iam_user": "name",
    "aws_iam_instance_profile": "name", "aws_s3_bucket": "bucket", "aws_iam_group": "name",
}
POLICY_ARGS = {
    "aws_iam_role_policy": "policy", "aws_iam_policy": "policy", "aws_iam_user_policy": "policy",
    "aws_iam_group_policy": "policy", "aws_s3_bucket_policy": "policy",
}
FLOW_LOG_INTERVALS = (60, 600)


@dataclass(frozen=True)
class Violation:
    rule: str
    address: str
    message: str
    fix: str
    cell: str = ""

    def line(self) -> str:
        where = f"[{self.cell}] " if self.cell else ""
        return f"{where}{self.rule}: {self.address}: {self.message}. Fix: {self.fix}"


@dataclass
class Context:
    """What a rule may know beyond the JSON: the cell's region/suffix, the project folder."""

    cell: str = ""
    region: str | None = None
    suffix: str | None = None
    project_dir: Path | None = None


@dataclass
class SynthDoc:
    path: Path
    data: dict[str, Any]
    ctx: Context = field(default_factory=Context)

    @classmethod
    def load(cls, path: Path, ctx: Context | None = None) -> SynthDoc:
        text = Path(path).read_text()
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("top level is not a JSON object")
        return cls(Path(path), data, ctx or Context())

    # -- lookups -------------------------------------------------------------------------------
    def resources(self, rtype: str | None = None) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for t, by_name in (self.data.get("resource") or {}).items():
            if rtype and t != rtype:
                continue
            for name, body in (by_name or {}).items():
                if isinstance(body, dict):
                    yield t, name, body

    def get(self, address: str) -> dict[str, Any] | None:
        m = ADDR_RE.match(address)
        if not m:
            return None
        section = "data" if m.group(1) else "resource"
        return ((self.data.get(section) or {}).get(m.group(2)) or {}).get(m.group(3))

    def providers(self, name: str = "aws") -> list[dict[str, Any]]:
        blocks = (self.data.get("provider") or {}).get(name) or []
        return blocks if isinstance(blocks, list) else [blocks]

    def backend(self) -> tuple[str, dict[str, Any]] | None:
        backends = (self.data.get("terraform") or {}).get("backend") or {}
        for kind, body in backends.items():
            return kind, body or {}
        return None

    def default_tags(self) -> dict[str, Any]:
        tags: dict[str, Any] = {}
        for p in self.providers():
            dt = p.get("default_tags") or []
            for block in dt if isinstance(dt, list) else [dt]:
                block_tags = (block or {}).get("tags")
                if isinstance(block_tags, dict):  # else an expression ("${local.tags}"): unknown here
                    tags.update(block_tags)
        return tags

    def region(self) -> str | None:
        if self.ctx.region:
            return self.ctx.region
        for p in self.providers():
            if isinstance(p.get("region"), str) and not p.get("alias"):
                return p["region"]
        return None


def refs(value: Any) -> list[str]:
    """Resource addresses referenced anywhere in `value` (`aws_vpc.main`, `data.x.y`)."""
    out: list[str] = []
    if isinstance(value, str):
        for expr in REF_RE.findall(value):
            for m in re.finditer(r"(?:data\.)?aws_[a-z0-9_]+\.[A-Za-z0-9_-]+", expr):
                out.append(m.group(0))
    elif isinstance(value, dict):
        for v in value.values():
            out.extend(refs(v))
    elif isinstance(value, list):
        for v in value:
            out.extend(refs(v))
    return out


def ref_to(value: Any, rtype: str) -> str | None:
    """The address of the first `rtype` resource that `value` refers to."""
    for r in refs(value):
        if r.startswith(rtype + "."):
            return r
    return None


def strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            if k != "//":
                yield from strings(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from strings(v, f"{path}[{i}]")


def _bool(value: Any, default: bool) -> bool | None:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None  # an expression: unknown until apply


Rule = Callable[[SynthDoc], Iterable[Violation]]
RULES: dict[str, Rule] = {}
RULE_DOCS: dict[str, str] = {}


def rule(rule_id: str, doc: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        RULES[rule_id] = fn
        RULE_DOCS[rule_id] = doc
        return fn

    return register


# -- network -----------------------------------------------------------------------------------

@rule("flow-log-interval", "aws_flow_log max_aggregation_interval is 60 or 600 (AWS rejects others)")
def flow_log_interval(doc: SynthDoc) -> Iterable[Violation]:
    for t, name, body in doc.resources("aws_flow_log"):
        value = body.get("max_aggregation_interval", 600)
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, int) and value not in FLOW_LOG_INTERVALS:
            yield Violation(
                "flow-log-interval", f"{t}.{name}",
                f"max_aggregation_interval = {value}; AWS accepts only 60 or 600 and refuses the "
                "flow log (InvalidParameter), blocking the whole deploy",
                "set max_aggregation_interval to 600 (or 60)",
            )


@rule("vpc-cidr-dns", "every aws_vpc has a valid IPv4 CIDR (/16-/28) and DNS support and hostnames on")
def vpc_cidr_dns(doc: SynthDoc) -> Iterable[Violation]:
    for t, name, body in doc.resources("aws_vpc"):
        addr = f"{t}.{name}"
        cidr = body.get("cidr_block")
        if isinstance(cidr, str) and "${" not in cidr:
            try:
                net = ipaddress.ip_network(cidr, strict=True)
                if net.version != 4 or not 16 <= net.prefixlen <= 28:
                    raise ValueError("AWS allows IPv4 /16 to /28")
            except ValueError as exc:
                yield Violation("vpc-cidr-dns", addr, f"cidr_block {cidr!r} is invalid ({exc})",
                                "use an IPv4 block between /16 and /28, e.g. 10.0.0.0/16")
        elif cidr is None and not body.get("ipv4_ipam_pool_id"):
            yield Violation("vpc-cidr-dns", addr, "no cidr_block", "set cidr_block, e.g. 10.0.0.0/16")
        for arg, default in (("enable_dns_support", True), ("enable_dns_hostnames", False)):
            if _bool(body.get(arg), default) is False:
                yield Violation("vpc-cidr-dns", addr, f"{arg} is off: private DNS for endpoints "
                                "and instance hostnames do not resolve", f"set {arg} = true")


def _route_tables(doc: SynthDoc) -> dict[str, dict[str, Any]]:
    """route table address -> {"vpc", "default_target", "subnets"} from routes and associations."""
    tables: dict[str, dict[str, Any]] = {}
    for t, name, body in doc.resources("aws_route_table"):
        info = {"vpc": ref_to(body.get("vpc_id"), "aws_vpc"), "default": None, "subnets": []}
        for route in body.get("route") or []:
            if isinstance(route, dict) and route.get("cidr_block") == "0.0.0.0/0":
                info["default"] = route
        tables[f"{t}.{name}"] = info
    for _t, _name, body in doc.resources("aws_route"):
        rt = ref_to(body.get("route_table_id"), "aws_route_table")
        if rt in tables and body.get("destination_cidr_block") == "0.0.0.0/0":
            tables[rt]["default"] = body
    for _t, _name, body in doc.resources("aws_route_table_association"):
        rt = ref_to(body.get("route_table_id"), "aws_route_table")
        subnet = ref_to(body.get("subnet_id"), "aws_subnet")
        if rt in tables and subnet:
            tables[rt]["subnets"].append(subnet)
    return tables


def _subnet_tiers(doc: SynthDoc) -> dict[str, str]:
    """subnet address -> "public" (default route to an IGW) or "private" (anything else)."""
    tiers = {f"{t}.{n}": "private" for t, n, _ in doc.resources("aws_subnet")}
    for info in _route_tables(doc).values():
        default = info["default"] or {}
        if ref_to(default.get("gateway_id"), "aws_internet_gateway"):
            for subnet in info["subnets"]:
                tiers[subnet] = "public"
    for t, n, body in doc.resources("aws_subnet"):
        if _bool(body.get("map_public_ip_on_launch"), False) and f"{t}.{n}" in tiers:
            tiers[f"{t}.{n}"] = "public"
    return tiers


def _az_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if not isinstance(value, str) else value


@rule("subnets-per-az", "one public and one private subnet per AZ, CIDRs inside the VPC, no overlap")
def subnets_per_az(doc: SynthDoc) -> Iterable[Violation]:
    tiers = _subnet_tiers(doc)
    by_vpc: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for t, n, body in doc.resources("aws_subnet"):
        by_vpc[ref_to(body.get("vpc_id"), "aws_vpc") or "?"].append((f"{t}.{n}", body))
    for vpc, subnets in by_vpc.items():
        vpc_body = doc.get(vpc) or {}
        vpc_cidr = vpc_body.get("cidr_block")
        vpc_net = None
        if isinstance(vpc_cidr, str) and "${" not in vpc_cidr:
            try:
                vpc_net = ipaddress.ip_network(vpc_cidr, strict=False)
            except ValueError:
                vpc_net = None
        per_az: dict[str, dict[str, list[str]]] = defaultdict(lambda: {"public": [], "private": []})
        nets: list[tuple[str, Any]] = []
        for addr, body in subnets:
            per_az[_az_key(body.get("availability_zone", body.get("availability_zone_id")))][
                tiers[addr]].append(addr)
            cidr = body.get("cidr_block")
            if isinstance(cidr, str) and "${" not in cidr:
                try:
                    net = ipaddress.ip_network(cidr, strict=True)
                except ValueError as exc:
                    yield Violation("subnets-per-az", addr, f"cidr_block {cidr!r} is invalid ({exc})",
                                    "use a network address, e.g. 10.0.0.0/20")
                    continue
                if vpc_net and not net.subnet_of(vpc_net):
                    yield Violation("subnets-per-az", addr, f"{cidr} is outside the VPC {vpc_cidr}",
                                    "derive subnet CIDRs from the VPC CIDR")
                for other, other_net in nets:
                    if net.overlaps(other_net):
                        yield Violation("subnets-per-az", addr, f"{cidr} overlaps {other} ({other_net})",
                                        "give every subnet its own block of the VPC CIDR")
                nets.append((addr, net))
        for az, tier in per_az.items():
            for kind in ("public", "private"):
                if len(tier[kind]) != 1:
                    where = tier["public"] + tier["private"]
                    yield Violation(
                        "subnets-per-az", ", ".join(where) or vpc,
                        f"AZ {az} has {len(tier[kind])} {kind} subnet(s); expected exactly one",
                        f"create one {kind} subnet per availability zone",
                    )


@rule("private-route-own-az-nat", "each private route table's default route goes to the NAT in its own AZ")
def private_route_own_az(doc: SynthDoc) -> Iterable[Violation]:
    subnet_az = {f"{t}.{n}": _az_key(b.get("availability_zone")) for t, n, b in doc.resources("aws_subnet")}
    tiers = _subnet_tiers(doc)
    nat_az = {f"{t}.{n}": subnet_az.get(ref_to(b.get("subnet_id"), "aws_subnet") or "")
              for t, n, b in doc.resources("aws_nat_gateway")}
    az_nat: dict[str, str] = {}
    for nat, az in nat_az.items():
        if az:
            az_nat.setdefault(az, nat)
    for rt, info in _route_tables(doc).items():
        private = [s for s in info["subnets"] if tiers.get(s) == "private"]
        if not private:
            continue
        default = info["default"]
        if not default:
            if nat_az:
                yield Violation("private-route-own-az-nat", rt,
                                "private route table has no 0.0.0.0/0 route",
                                "add an aws_route 0.0.0.0/0 -> the NAT gateway of the subnet's AZ")
            continue
        nat = ref_to(default.get("nat_gateway_id"), "aws_nat_gateway")
        if not nat:
            if not ref_to(default.get("gateway_id"), "aws_internet_gateway"):
                yield Violation("private-route-own-az-nat", rt,
                                "default route does not point at a NAT gateway of this stack",
                                "route 0.0.0.0/0 to the aws_nat_gateway in the subnet's AZ")
            continue
        for subnet in private:
            az = subnet_az.get(subnet)
            own = az_nat.get(az or "")
            if own and own != nat:
                yield Violation(
                    "private-route-own-az-nat", rt,
                    f"subnet {subnet} (AZ {az}) routes to {nat} in AZ {nat_az.get(nat)}; "
                    "an AZ outage would cut its egress and cross-AZ traffic is billed",
                    f"route 0.0.0.0/0 to {own}",
                )


@rule("s3-endpoint-all-route-tables", "an S3 gateway endpoint is attached to every route table")
def s3_endpoint(doc: SynthDoc) -> Iterable[Violation]:
    tables = _route_tables(doc)
    by_vpc: dict[str, set[str]] = defaultdict(set)
    for rt, info in tables.items():
        by_vpc[info["vpc"] or "?"].add(rt)
    attached: dict[str, set[str]] = defaultdict(set)
    endpoints: dict[str, str] = {}
    for t, n, body in doc.resources("aws_vpc_endpoint"):
        service = str(body.get("service_name", ""))
        if not service.endswith(".s3") or body.get("vpc_endpoint_type", "Gateway") != "Gateway":
            continue
        vpc = ref_to(body.get("vpc_id"), "aws_vpc") or "?"
        endpoints[vpc] = f"{t}.{n}"
        attached[vpc].update(r for r in refs(body.get("route_table_ids")) if r.startswith("aws_route_table."))
    for _t, _n, body in doc.resources("aws_vpc_endpoint_route_table_association"):
        ep = ref_to(body.get("vpc_endpoint_id"), "aws_vpc_endpoint")
        rt = ref_to(body.get("route_table_id"), "aws_route_table")
        for vpc, addr in endpoints.items():
            if addr == ep and rt:
                attached[vpc].add(rt)
    for vpc_t, vpc_n, _ in doc.resources("aws_vpc"):
        vpc = f"{vpc_t}.{vpc_n}"
        if vpc not in endpoints:
            yield Violation("s3-endpoint-all-route-tables", vpc, "no S3 gateway endpoint",
                            "add aws_vpc_endpoint service_name com.amazonaws.<region>.s3, type Gateway")
            continue
        for rt in sorted(by_vpc.get(vpc, set()) - attached[vpc]):
            yield Violation("s3-endpoint-all-route-tables", endpoints[vpc],
                            f"route table {rt} is not attached: its S3 traffic goes through the NAT",
                            f"add {rt}.id to route_table_ids")


# -- backend -----------------------------------------------------------------------------------

@rule("backend-encrypted", "the S3 state backend encrypts state (encrypt = true)")
def backend_encrypted(doc: SynthDoc) -> Iterable[Violation]:
    backend = doc.backend()
    if backend is None:
        yield Violation("backend-encrypted", "terraform.backend", "no remote backend: state is local",
                        "configure an S3Backend with encrypt = true and locking")
        return
    kind, body = backend
    if kind == "s3" and _bool(body.get("encrypt"), False) is not True:
        yield Violation("backend-encrypted", "terraform.backend.s3", "encrypt is not true",
                        "set encrypt = true on the S3Backend")


@rule("backend-key-pattern", "the state key is <suffix>/<stack>.tfstate")
def backend_key(doc: SynthDoc) -> Iterable[Violation]:
    backend = doc.backend()
    if not backend or backend[0] != "s3":
        return
    key = str(backend[1].get("key", ""))
    prefix = doc.ctx.suffix
    ok = re.fullmatch(r"[a-z0-9][a-z0-9-]*/[A-Za-z0-9._-]+\.tfstate", key) is not None
    if ok and prefix and not key.startswith(prefix + "/"):
        ok = False
    if not ok:
        want = f"{prefix}/<stack-id>.tfstate" if prefix else "<suffix>/<stack-id>.tfstate"
        yield Violation("backend-key-pattern", "terraform.backend.s3",
                        f"key {key!r} does not follow {want}: environments would share or scatter state",
                        f"set key = \"{want}\"")


@rule("backend-locking", "the S3 backend locks state (use_lockfile and/or dynamodb_table)")
def backend_locking(doc: SynthDoc) -> Iterable[Violation]:
    backend = doc.backend()
    if not backend or backend[0] != "s3":
        return
    body = backend[1]
    if _bool(body.get("use_lockfile"), False) is not True and not body.get("dynamodb_table"):
        yield Violation(
            "backend-locking", "terraform.backend.s3",
            "no state locking: two applies can corrupt the state",
            "set use_lockfile = true (S3 native locking, terraform >= 1.10; on cdktf 0.21 use "
            "backend.add_override('use_lockfile', True)) or dynamodb_table = an existing table with "
            "hash key LockID (deprecated since terraform 1.11)",
        )


# -- tags, IAM, regions ------------------------------------------------------------------------

@rule("tags-suffix-region", "every taggable resource carries EnvironmentSuffix and Region tags; Names carry the suffix")
def tags_rule(doc: SynthDoc) -> Iterable[Violation]:
    defaults = doc.default_tags()
    for t, n, body in doc.resources():
        if t not in TAGGABLE and "tags" not in body:
            continue
        own = body.get("tags")
        if own is not None and not isinstance(own, dict):
            continue  # tags computed by an expression ("${local.tags}"): nothing to check before apply
        tags = {**defaults, **(own or {})}
        missing = [k for k in ("EnvironmentSuffix", "Region") if k not in tags]
        if missing:
            yield Violation("tags-suffix-region", f"{t}.{n}", f"missing tag(s) {', '.join(missing)}",
                            "add them to the provider's default_tags (or the resource's tags)")
        suffix = doc.ctx.suffix or tags.get("EnvironmentSuffix")
        name = tags.get("Name")
        if isinstance(name, str) and isinstance(suffix, str) and suffix not in name:
            yield Violation("tags-suffix-region", f"{t}.{n}",
                            f"Name {name!r} does not carry the environment suffix {suffix!r}",
                            "build every name from the suffix")
        region = doc.region()
        tag_region = tags.get("Region")
        if region and isinstance(tag_region, str) and "${" not in tag_region and tag_region != region:
            yield Violation("tags-suffix-region", f"{t}.{n}",
                            f"Region tag {tag_region!r} differs from the stack's region {region!r}",
                            "take the tag from the cell's region")


def _statements(policy: Any) -> Iterator[dict[str, Any]]:
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return
    if not isinstance(policy, dict):
        return
    stmts = policy.get("Statement") or []
    for s in stmts if isinstance(stmts, list) else [stmts]:
        if isinstance(s, dict):
            yield s


@rule("iam-no-wildcard-resource", 'no IAM Allow statement has Resource "*"')
def iam_wildcard(doc: SynthDoc) -> Iterable[Violation]:
    for rtype, arg in POLICY_ARGS.items():
        for t, n, body in doc.resources(rtype):
            for s in _statements(body.get(arg)):
                res = s.get("Resource")
                resources = res if isinstance(res, list) else [res]
                if s.get("Effect", "Allow") == "Allow" and "*" in resources:
                    yield Violation("iam-no-wildcard-resource", f"{t}.{n}",
                                    f'statement {s.get("Sid") or s.get("Action")} allows Resource "*"',
                                    "scope Resource to the ARNs it needs (e.g. the log group's arn and arn:*)")
    for n, body in ((doc.data.get("data") or {}).get("aws_iam_policy_document") or {}).items():
        stmts = body.get("statement") or []
        for s in stmts if isinstance(stmts, list) else [stmts]:
            if isinstance(s, dict) and s.get("effect", "Allow") == "Allow" and "*" in (s.get("resources") or []):
                yield Violation("iam-no-wildcard-resource", f"data.aws_iam_policy_document.{n}",
                                'a statement allows resources ["*"]', "scope resources to the ARNs it needs")


@rule("no-foreign-region", "no region name other than the cell's own appears in resources or providers")
def foreign_region(doc: SynthDoc) -> Iterable[Violation]:
    region = doc.region()
    if not region:
        return
    from matrix.regions import known_regions

    known = known_regions()
    sections = [("resource", doc.data.get("resource") or {}), ("data", doc.data.get("data") or {})]
    for section, types in sections:
        for t, by_name in types.items():
            for n, body in (by_name or {}).items():
                for path, text in strings(body):
                    for found in set(REGION_RE.findall(text)):
                        if found in known and found != region:
                            prefix = "data." if section == "data" else ""
                            yield Violation(
                                "no-foreign-region", f"{prefix}{t}.{n}",
                                f"{path} = {text!r} names region {found!r} in a {region} cell: the "
                                "stack would reach across regions or fail there",
                                "derive it from the cell's region (the provider region or "
                                "data.aws_region) instead of hard-coding it",
                            )
    for i, p in enumerate(doc.providers()):
        if isinstance(p.get("region"), str) and p["region"] != region and not p.get("alias"):
            yield Violation("no-foreign-region", f"provider.aws[{i}]",
                            f"region {p['region']!r} but the cell is {region!r}",
                            "set the provider region from the cell")


@rule("cdktf-json", "cdktf.json exists with an app command that points at a real file")
def cdktf_json(doc: SynthDoc) -> Iterable[Violation]:
    project = doc.ctx.project_dir
    if project is None:
        return
    problem = cdktf_json_problem(project)
    if problem:
        yield Violation("cdktf-json", str(project / "cdktf.json"), problem[0], problem[1])


def cdktf_json_problem(project: Path) -> tuple[str, str] | None:
    """(what is wrong, how to fix) for the cdktf.json in `project`, or None when it is usable."""
    file = project / "cdktf.json"
    example = '{"language": "python", "app": "python3 main.py"}'
    if not file.is_file():
        return (f"cdktf.json not found in {project}: the cdktf CLI refuses to run without it",
                f"create {file} with at least {example}")
    try:
        conf = json.loads(file.read_text())
    except ValueError as exc:
        return f"cdktf.json is not valid JSON ({exc})", f"fix the JSON, e.g. {example}"
    app = conf.get("app") if isinstance(conf, dict) else None
    if not isinstance(app, str) or not app.strip():
        return "cdktf.json has no \"app\" command", f"add \"app\", e.g. {example}"
    words = shlex.split(app)
    target = None
    if "-m" in words and words.index("-m") + 1 < len(words):
        module = words[words.index("-m") + 1].replace(".", "/")
        candidates = [project / f"{module}.py", project / module / "__main__.py"]
        target = next((c for c in candidates if c.is_file()), candidates[0])
    else:
        files = [w for w in words[1:] if w.endswith((".py", ".js", ".ts"))] or words[1:2]
        target = project / files[0] if files else None
    if target is None or not target.is_file():
        return (f"cdktf.json app {app!r} points at {target or 'nothing'}, which does not exist",
                "point \"app\" at the file that synthesizes the stacks")
    return None


# -- cross-cell --------------------------------------------------------------------------------

CROSS_RULES: dict[str, Callable[[list[SynthDoc]], Iterable[Violation]]] = {}


def cross_rule(rule_id: str, doc: str):
    def register(fn):
        CROSS_RULES[rule_id] = fn
        RULE_DOCS[rule_id] = doc
        return fn

    return register


@cross_rule("global-names-unique", "account-global names (IAM, S3 buckets) differ between the cells of a run")
def global_names(docs: list[SynthDoc]) -> Iterable[Violation]:
    seen: dict[tuple[str, str], str] = {}
    for doc in docs:
        for rtype, arg in GLOBAL_NAMES.items():
            for t, n, body in doc.resources(rtype):
                name = body.get(arg)
                if not isinstance(name, str):
                    continue
                key = (rtype, name)
                here = f"{doc.ctx.cell or doc.path}:{t}.{n}"
                if key in seen:
                    yield Violation("global-names-unique", here,
                                    f"{arg} {name!r} is also used by {seen[key]}; {rtype} names are "
                                    "account-global, so the second cell fails with EntityAlreadyExists",
                                    "put the region and suffix in the name", doc.ctx.cell)
                else:
                    seen[key] = here


# -- running -----------------------------------------------------------------------------------

def check_doc(doc: SynthDoc, only: Iterable[str] | None = None) -> list[Violation]:
    out = []
    for rule_id, fn in RULES.items():
        if only and rule_id not in only:
            continue
        for v in fn(doc):
            out.append(Violation(v.rule, v.address, v.message, v.fix, doc.ctx.cell))
    return out


def check_docs(docs: list[SynthDoc]) -> list[Violation]:
    out: list[Violation] = []
    for doc in docs:
        out.extend(check_doc(doc))
    if len(docs) > 1:
        for fn in CROSS_RULES.values():
            out.extend(fn(docs))
    return out
