"""The real-account target, and the guard that makes it impossible to reach by accident.

Refusals (exit 2), in the order they are checked:
  1. no `--allow-real-aws`                                     -> refused, no AWS call made
  2. `STACKMATRIX_AWS_ACCOUNTS` empty or not 12-digit ids      -> refused, no AWS call made
  3. an `AWS_ENDPOINT_URL*` variable set (the calls would not go to AWS) -> refused, no call
  4. more cells than `--max-cells` (default 4)                 -> refused, no AWS call made
  5. a fault scenario that cannot be injected safely in a real account -> refused, no call
  6. the account (STS GetCallerIdentity, read-only, once per credential source) not in the list
                                                               -> refused, nothing else called
  7. no `--yes` and no "yes" typed at the prompt (non-interactive stdin counts as no) -> refused
Before the prompt it prints what will be created per region and the hourly cost of the NAT
gateways and public IPv4 addresses (EIPs) at list price. Teardown always runs (the runner's
guarantee); `python -m matrix sweep --run-id ID` removes leftovers by tag.

Credentials come from the profile file: `[profiles.P.aws]` with `profile`/`profiles` (per-region AWS
CLI profiles) or `role_arn`/`role_arns` (assumed with STS); never from a file of ours. Deployment
records name the profile or role, never a key.

`STACKMATRIX_AWS_ENDPOINT` points every call at a loopback emulator instead of AWS: the tests use it
to run this exact code path (guard included) against moto; anything but 127.0.0.1 is refused.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from matrix.clients import Access
from matrix.errors import UsageError
from matrix.targets.base import Deployment, Target

ACCOUNTS_ENV = "STACKMATRIX_AWS_ACCOUNTS"
TEST_ENDPOINT_ENV = "STACKMATRIX_AWS_ENDPOINT"
ALLOW_ENV = "STACKMATRIX_ALLOW_REAL_AWS"  # for `report --publish` to a real bucket
DEFAULT_MAX_CELLS = 4
#: scenarios that would damage what a real account depends on (its state bucket) or need a proxy
REFUSED_ON_AWS = {"state-bucket-lost": "it deletes the state bucket",
                  "missing-state-bucket": "it needs a state bucket that does not exist yet; create the cell's "
                                          "bucket name yourself to try it"}

# List prices in USD per hour (AWS pricing pages, 2025): NAT gateway per region, public IPv4 address.
NAT_HOURLY = {
    "us-east-1": 0.045, "us-east-2": 0.045, "us-west-1": 0.048, "us-west-2": 0.045, "ca-central-1": 0.050,
    "eu-west-1": 0.048, "eu-west-2": 0.050, "eu-west-3": 0.050, "eu-central-1": 0.052, "eu-north-1": 0.046,
    "ap-northeast-1": 0.062, "ap-northeast-2": 0.059, "ap-southeast-1": 0.059, "ap-southeast-2": 0.059,
    "ap-south-1": 0.056, "sa-east-1": 0.093,
}
NAT_HOURLY_UNKNOWN = 0.065
IPV4_HOURLY = 0.005
ACCOUNT_RE = re.compile(r"^\d{12}$")


def allowed_accounts(environ: dict[str, str] | None = None) -> set[str]:
    env = os.environ if environ is None else environ
    raw = env.get(ACCOUNTS_ENV, "")
    ids = {a.strip() for a in raw.split(",") if a.strip()}
    if not ids:
        raise UsageError(f"--target aws: {ACCOUNTS_ENV} is empty; list the account ids you allow "
                         "(comma-separated 12-digit ids), e.g. export STACKMATRIX_AWS_ACCOUNTS=123456789012")
    bad = sorted(a for a in ids if not ACCOUNT_RE.match(a))
    if bad:
        raise UsageError(f"{ACCOUNTS_ENV}: {', '.join(bad)} is not a 12-digit account id")
    return ids


def test_endpoint() -> str | None:
    url = os.environ.get(TEST_ENDPOINT_ENV)
    if not url:
        return None
    host = urlsplit(url).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise UsageError(f"{TEST_ENDPOINT_ENV}={url}: only a loopback emulator may stand in for AWS")
    return url


def refuse_endpoint_overrides() -> None:
    found = sorted(k for k in os.environ if k.startswith("AWS_ENDPOINT_URL") and os.environ[k])
    if found:
        raise UsageError(f"--target aws talks to real AWS, but {', '.join(found)} is set and would send the calls "
                         "elsewhere; unset it (or use --target localstack / moto)")


def hourly_cost(cells: Sequence[Any]) -> tuple[list[str], float]:
    """Lines describing what will be created per region, and the total hourly cost (USD)."""
    by_region: dict[str, list[Any]] = {}
    for cell in cells:
        by_region.setdefault(cell.region, []).append(cell)
    lines, total = [], 0.0
    for region, group in sorted(by_region.items()):
        nats = sum(c.stack_config().az_count if c.stack_config().nat_mode == "per-az" else 1 for c in group)
        price = NAT_HOURLY.get(region, NAT_HOURLY_UNKNOWN)
        cost = nats * price + nats * IPV4_HOURLY
        total += cost
        estimate = "" if region in NAT_HOURLY else " (price estimated: check the pricing page)"
        lines.append(f"  {region}: {len(group)} cell(s) ({', '.join(c.id for c in group)}): {len(group)} VPC(s), "
                     f"{nats} NAT gateway(s) x ${price:.3f}/h + {nats} EIP(s) x ${IPV4_HOURLY:.3f}/h "
                     f"= ${cost:.3f}/h{estimate}")
    return lines, total


class AwsSettings(Protocol):
    """The run settings the aws target reads (RunOptions has them)."""

    allow_real_aws: bool  # --allow-real-aws: explicit consent to a real account
    max_cells: int | None  # --max-cells (None: DEFAULT_MAX_CELLS)
    yes: bool  # --yes: confirmed without the prompt
    aws: dict[str, Any]  # the profile file's [profiles.P.aws]: profile(s), role_arn(s)


class AwsTarget(Target):
    name = "aws"

    def __init__(self, options: AwsSettings, progress: Callable[[str], None] = print,
                 ask: Callable[[str], str] | None = None) -> None:
        self.options = options
        self.progress = progress
        self.ask = ask
        self.endpoint = None
        self.account_id = ""
        self.cells: list[Any] = []
        self.creds: dict[str, dict[str, Any]] = {}

    # -- the guard ---------------------------------------------------------------------------
    def vet(self, cells: Sequence[Any]) -> None:
        """Everything that can be refused without a call, then the account check, then consent."""
        opts = self.options
        if not opts.allow_real_aws:
            raise UsageError("--target aws deploys to a real AWS account (NAT gateways cost money): add "
                             f"--allow-real-aws, and list the account in {ACCOUNTS_ENV}")
        allowed = allowed_accounts()
        self.endpoint = test_endpoint()
        if self.endpoint is None:
            refuse_endpoint_overrides()
        limit = opts.max_cells or DEFAULT_MAX_CELLS
        if len(cells) > limit:
            raise UsageError(f"--target aws: {len(cells)} cells exceed --max-cells {limit}; narrow the run "
                             "(--region/--suffix/--shard) or raise --max-cells")
        for cell in cells:
            if cell.fault in REFUSED_ON_AWS:
                raise UsageError(f"cell {cell.id}: fault {cell.fault} is refused on a real account: "
                                 f"{REFUSED_ON_AWS[cell.fault]}")
        self.cells = list(cells)
        accounts = {self._identity(region) for region in sorted({c.region for c in cells})}
        for account in accounts:
            if account not in allowed:
                raise UsageError(f"--target aws: the credentials reach account {account}, which is not in "
                                 f"{ACCOUNTS_ENV} ({', '.join(sorted(allowed))}); nothing was created")
        self.account_id = ",".join(sorted(accounts))
        lines, total = hourly_cost(cells)
        self.progress(f"--target aws: account {self.account_id}; this run creates, then destroys:")
        for line in lines:
            self.progress(line)
        self.progress(f"  total while deployed: ${total:.3f} per hour (list prices, data processing extra)")
        if not opts.yes:
            answer = self._ask("type yes to deploy to this account: ")
            if answer.strip().lower() != "yes":
                raise UsageError("--target aws: not confirmed (answer 'yes', or pass --yes); nothing was created")

    def vet_for_teardown(self, cells: Sequence[Any]) -> None:
        """Destroying or sweeping needs the same explicit consent and allowlist, not the cost prompt."""
        if not self.options.allow_real_aws:
            raise UsageError("the cells live in a real AWS account: add --allow-real-aws to tear them down")
        allowed = allowed_accounts()
        self.endpoint = test_endpoint()
        if self.endpoint is None:
            refuse_endpoint_overrides()
        self.cells = list(cells)
        for region in sorted({c.region for c in cells}):
            account = self._identity(region)
            if account not in allowed:
                raise UsageError(f"account {account} is not in {ACCOUNTS_ENV}; nothing was touched")

    def _ask(self, prompt: str) -> str:
        if self.ask is not None:
            return self.ask(prompt)
        if not sys.stdin or not sys.stdin.isatty():
            raise UsageError("--target aws: no terminal to confirm on; pass --yes to confirm non-interactively")
        return input(prompt)

    def _source(self, region: str) -> dict[str, Any]:
        aws = self.options.aws or {}
        profile = (aws.get("profiles") or {}).get(region) or aws.get("profile")
        role = (aws.get("role_arns") or {}).get(region) or aws.get("role_arn")
        return {"profile": profile, "role_arn": role}

    def _session(self, region: str) -> boto3.session.Session:
        src = self._source(region)
        return boto3.session.Session(profile_name=src["profile"], region_name=region)

    def _identity(self, region: str) -> str:
        """The account behind this region's credentials (assuming the role when one is configured)."""
        src = self._source(region)
        key = f"{src['profile']}|{src['role_arn']}"
        if key not in self.creds:
            session = self._session(region)
            sts = session.client("sts", region_name=region, endpoint_url=self.endpoint,
                                 config=Config(retries={"mode": "standard"}))
            creds: dict[str, Any] = {"profile": src["profile"]}
            if src["role_arn"]:
                assumed = sts.assume_role(RoleArn=src["role_arn"], RoleSessionName="stackmatrix")["Credentials"]
                creds.update(access_key=assumed["AccessKeyId"], secret_key=assumed["SecretAccessKey"],
                             session_token=assumed["SessionToken"], profile=None)
                sts = boto3.client("sts", region_name=region, endpoint_url=self.endpoint,
                                   aws_access_key_id=creds["access_key"], aws_secret_access_key=creds["secret_key"],
                                   aws_session_token=creds["session_token"])
            creds["account"] = sts.get_caller_identity()["Account"]
            self.creds[key] = creds
        return self.creds[key]["account"]

    # -- Target ------------------------------------------------------------------------------
    def start(self) -> None:
        if not self.cells:
            raise UsageError("--target aws: the run was not vetted (internal: call vet(cells) first)")

    def access(self, cell_id: str, region: str, run_id: str) -> Access:
        src = self._source(region)
        creds = self.creds[f"{src['profile']}|{src['role_arn']}"]
        return Access(region, self.endpoint, creds.get("access_key"), creds.get("secret_key"),
                      creds.get("session_token"), creds.get("profile"), creds["account"])

    def reattach(self, deployment: Deployment) -> Access:
        self._identity(deployment.region)
        return self.access(deployment.cell, deployment.region, deployment.run_id)

    def describe(self) -> dict[str, str]:
        return {"target": "aws", "account": self.account_id, "endpoint": self.endpoint or "AWS"}

    def stop(self, keep_running: bool = False) -> None:
        return None


def guarded_session(purpose: str) -> boto3.session.Session:
    """A session for a real-account side task (e.g. `report --publish`), behind the same guard."""
    if os.environ.get(ALLOW_ENV) != "1":
        raise UsageError(f"{purpose} to a real AWS bucket: set {ALLOW_ENV}=1 and list the account in {ACCOUNTS_ENV}")
    allowed = allowed_accounts()
    session = boto3.session.Session()
    account = session.client("sts", endpoint_url=test_endpoint()).get_caller_identity()["Account"]
    if account not in allowed:
        raise UsageError(f"{purpose}: account {account} is not in {ACCOUNTS_ENV}")
    return session
