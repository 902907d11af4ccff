"""Rules about how a stack is run and named: state backend, tags and names, regions, cdktf.json,
account-global names across cells.

These are the project's conventions (a green matrix needs them) and the failures AWS or the tools
answer when they are missing: state that two applies corrupt, a second cell refused with
EntityAlreadyExists, a stack reaching into another region, a cdktf CLI that will not start.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable
from pathlib import Path

from matrix.catalogue.doc import SynthDoc, as_bool, literal, strings
from matrix.catalogue.model import AwsError, Finding, cross_check, define, doc_check

REGION_RE = re.compile(r"\b(?:[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d)\b")
S3_BACKEND = "https://developer.hashicorp.com/terraform/language/backend/s3"

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

# -- backend -------------------------------------------------------------------------------------

BACKEND_ENCRYPTED = define(
    "backend-encrypted", "warning", "the S3 state backend encrypts state (encrypt = true)",
    "Terraform state holds every attribute of every resource, secrets included; without encrypt = true "
    "the S3 backend writes it without requesting server-side encryption.",
    S3_BACKEND, "set encrypt = true on the S3Backend",
    breaks="state, secrets included, is written without server-side encryption requested", kind="project")


@doc_check(BACKEND_ENCRYPTED)
def backend_encrypted(doc: SynthDoc) -> Iterable[Finding]:
    backend = doc.backend()
    if backend is None:
        yield BACKEND_ENCRYPTED.finding("terraform.backend", "no remote backend: state is local",
                                        "configure an S3Backend with encrypt = true and locking")
        return
    kind, body = backend
    if kind == "s3" and as_bool(body.get("encrypt"), False) is not True:
        yield BACKEND_ENCRYPTED.finding("terraform.backend.s3", "encrypt is not true", argument="encrypt",
                                        value=body.get("encrypt"))


BACKEND_KEY = define(
    "backend-key-pattern", "warning", "the state key is <suffix>/<stack>.tfstate",
    "Each environment suffix keeps its state under its own prefix, one object per stack; a shared or "
    "irregular key makes environments overwrite or lose each other's state.",
    S3_BACKEND, "set key = \"<suffix>/<stack-id>.tfstate\"",
    breaks="environments share or scatter their state", kind="project")


@doc_check(BACKEND_KEY)
def backend_key(doc: SynthDoc) -> Iterable[Finding]:
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
        yield BACKEND_KEY.finding("terraform.backend.s3",
                                  f"key {key!r} does not follow {want}: environments would share or scatter state",
                                  f"set key = \"{want}\"", argument="key", value=key)


BACKEND_LOCKING = define(
    "backend-locking", "error", "the S3 backend locks state (use_lockfile and/or dynamodb_table)",
    "Without a lock two applies of one stack run at once and the last writer wins: resources created by "
    "the other are lost from state (created twice, leaked, or destroyed by mistake).",
    S3_BACKEND, "set use_lockfile = true or dynamodb_table",
    breaks="two concurrent applies corrupt the state", kind="project")


@doc_check(BACKEND_LOCKING)
def backend_locking(doc: SynthDoc) -> Iterable[Finding]:
    backend = doc.backend()
    if not backend or backend[0] != "s3":
        return
    body = backend[1]
    if as_bool(body.get("use_lockfile"), False) is not True and not body.get("dynamodb_table"):
        yield BACKEND_LOCKING.finding(
            "terraform.backend.s3", "no state locking: two applies can corrupt the state",
            "set use_lockfile = true (S3 native locking, terraform >= 1.10; on cdktf 0.21 use "
            "backend.add_override('use_lockfile', True)) or dynamodb_table = an existing table with "
            "hash key LockID (deprecated since terraform 1.11)", argument="use_lockfile")


# -- tags and names ------------------------------------------------------------------------------

TAGS_SUFFIX_REGION = define(
    "tags-suffix-region", "warning",
    "every taggable resource carries EnvironmentSuffix and Region tags; Names carry the suffix",
    "Leak checks, sweeps and cost reports find a cell's resources by its tags; a Name without the "
    "environment suffix collides with another environment's resource in the console and in scripts.",
    "https://docs.aws.amazon.com/whitepapers/latest/tagging-best-practices/tagging-best-practices.html",
    "add the tags to the provider's default_tags and build every Name from the suffix",
    breaks="leak checks and sweeps by tag miss the resource, names collide across environments", kind="project")


@doc_check(TAGS_SUFFIX_REGION)
def tags_rule(doc: SynthDoc) -> Iterable[Finding]:
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
            yield TAGS_SUFFIX_REGION.finding(f"{t}.{n}", f"missing tag(s) {', '.join(missing)}",
                                             "add them to the provider's default_tags (or the resource's tags)",
                                             argument="tags")
        suffix = doc.ctx.suffix or tags.get("EnvironmentSuffix")
        name = tags.get("Name")
        if isinstance(name, str) and isinstance(suffix, str) and suffix not in name:
            yield TAGS_SUFFIX_REGION.finding(f"{t}.{n}", f"Name {name!r} does not carry the environment suffix "
                                             f"{suffix!r}", "build every name from the suffix",
                                             argument="tags.Name", value=name)
        region = doc.region()
        tag_region = tags.get("Region")
        if region and isinstance(tag_region, str) and literal(tag_region) and tag_region != region:
            yield TAGS_SUFFIX_REGION.finding(f"{t}.{n}", f"Region tag {tag_region!r} differs from the stack's "
                                             f"region {region!r}", "take the tag from the cell's region",
                                             argument="tags.Region", value=tag_region)


# -- regions -------------------------------------------------------------------------------------

FOREIGN_REGION = define(
    "no-foreign-region", "error", "no region name other than the cell's own appears in resources or providers",
    "A region literal other than the stack's own makes the stack reach across regions (an endpoint "
    "service, an ARN) or fail there: AWS answers InvalidServiceName, InvalidParameterValue or "
    "NotFound depending on the resource.",
    "https://docs.aws.amazon.com/general/latest/gr/rande.html",
    "derive it from the cell's region (the provider region or data.aws_region) instead of hard-coding it",
    breaks="the stack reaches across regions or fails in every other region", kind="project")


@doc_check(FOREIGN_REGION)
def foreign_region(doc: SynthDoc) -> Iterable[Finding]:
    region = doc.region()
    if not region:
        return
    from matrix.regions import known_regions  # lazy: botocore's endpoint data only when a region is known

    known = known_regions()
    for section in ("resource", "data"):
        for t, by_name in (doc.data.get(section) or {}).items():
            for n, body in (by_name or {}).items():
                for path, text in strings(body):
                    for found in sorted(set(REGION_RE.findall(text))):
                        if found in known and found != region:
                            prefix = "data." if section == "data" else ""
                            yield FOREIGN_REGION.finding(
                                f"{prefix}{t}.{n}",
                                f"{path} = {text!r} names region {found!r} in a {region} cell: the stack would "
                                "reach across regions or fail there", argument=path, value=text)
    for i, p in enumerate(doc.providers()):
        if isinstance(p.get("region"), str) and literal(p["region"]) and p["region"] != region \
                and not p.get("alias"):
            yield FOREIGN_REGION.finding(f"provider.aws[{i}]", f"region {p['region']!r} but the cell is {region!r}",
                                         "set the provider region from the cell", argument="region", value=p["region"])


# -- cdktf.json ----------------------------------------------------------------------------------

CDKTF_JSON = define(
    "cdktf-json", "error", "cdktf.json exists with an app command that points at a real file",
    "The cdktf CLI (synth, deploy, diff) refuses to run without a cdktf.json whose app command "
    "synthesizes the stacks.",
    "https://developer.hashicorp.com/terraform/cdktf/create-and-deploy/configuration-file",
    'create cdktf.json with at least {"language": "python", "app": "python3 main.py"}',
    breaks="cdktf synth/deploy refuse to run", kind="project")


@doc_check(CDKTF_JSON)
def cdktf_json(doc: SynthDoc) -> Iterable[Finding]:
    project = doc.ctx.project_dir
    if project is None:
        return
    problem = cdktf_json_problem(project)
    if problem:
        yield CDKTF_JSON.finding(str(project / "cdktf.json"), problem[0], problem[1])


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


# -- across cells --------------------------------------------------------------------------------

GLOBAL_NAMES_UNIQUE = define(
    "global-names-unique", "error", "account-global names (IAM, S3 buckets) differ between the cells of a run",
    "IAM names are unique per account across all regions and S3 bucket names are unique across all "
    "accounts: the second cell that creates the same name is refused.",
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html",
    "put the region and suffix in the name",
    aws_error=AwsError("EntityAlreadyExists", 409, "Role with name {value} already exists."), kind="project")
_ALREADY_EXISTS = {"aws_s3_bucket": AwsError("BucketAlreadyExists", 409, "The requested bucket name is not "
                                             "available. The bucket namespace is shared by all users of the system. "
                                             "Please select a different name and try again.")}


@cross_check(GLOBAL_NAMES_UNIQUE)
def global_names(docs: list[SynthDoc]) -> Iterable[Finding]:
    seen: dict[tuple[str, str], str] = {}
    for doc in docs:
        for rtype, arg in GLOBAL_NAMES.items():
            for t, n, body in doc.resources(rtype):
                name = body.get(arg)
                if not isinstance(name, str) or not literal(name):
                    continue
                key = (rtype, name)
                here = f"{doc.ctx.cell or doc.path}:{t}.{n}"
                if key in seen:
                    err = _ALREADY_EXISTS.get(rtype) or AwsError(
                        "EntityAlreadyExists", 409, f"{rtype.removeprefix('aws_iam_').title()} with name {name} "
                        "already exists.")
                    yield GLOBAL_NAMES_UNIQUE.finding(
                        here, f"{arg} {name!r} is also used by {seen[key]}; {rtype} names are account-global, so "
                        "the second cell fails with EntityAlreadyExists", argument=arg, value=name,
                        aws_error=err).in_cell(doc.ctx.cell)
                else:
                    seen[key] = here
