"""The LocalStack target: a LocalStack the user runs (with their token), or one started here in host
mode (localstack_host.py) when none answers.

Endpoint, in order: `--endpoint`, `LOCALSTACK_ENDPOINT`, `AWS_ENDPOINT_URL`; when none of them
answers `/_localstack/health`, a managed host-mode LocalStack is started (its own venv, loopback
only) and stopped at the end of the run unless cells were kept or it was already running.

Strict (default): the target puts the strict emulator (matrix/targets/strict_front.py) in front
of the LocalStack and hands every cell the front's URL; a managed server's front is recorded as
`localstack_host.FRONT` and stopped with it, a user's LocalStack gets a front for the run (kept
while kept cells need it). `strict=False` (`run --no-strict`) hands out the LocalStack itself.

Accounts: LocalStack takes a 12-digit access key id as the account id, so each cell of each run
gets its own account (the same deterministic id the moto target uses) just by its keys; every client
(terraform, the AWS CLI, boto3) lands there with no custom header. `LOCALSTACK_AUTH_TOKEN` is passed
to a managed server when set and never written anywhere.

The clients are our own (matrix/clients.py: retries, counters, fault hooks, one construction for moto,
LocalStack and AWS) rather than `localstack-client`'s: that library only points boto3 at an endpoint
(since 2.1 it returns $AWS_ENDPOINT_URL when set, else localhost:4566), which botocore itself does
with `endpoint_url` and, for every SDK and the AWS CLI, with AWS_ENDPOINT_URL (what `matrix env`
prints); and the endpoint here is the strict front's, not LocalStack's own (README: Targets).
"""

from __future__ import annotations

from matrix.clients import Access
from matrix.errors import UsageError
from matrix.targets import localstack_host as host
from matrix.targets.base import Deployment, Target, account_for, cells_on
from matrix.targets.strict_front import StrictFront, strict_fact

TEST_SECRET = "test"  # noqa: S105 - LocalStack ignores the secret; any value signs


class LocalStackTarget(Target):
    name = "localstack"

    def __init__(self, endpoint: str | None = None, log=print, strict: bool = True) -> None:
        self.explicit = endpoint
        self.endpoint: str | None = None
        self.emulator_url: str | None = None
        self.managed: host.LocalStackProcess | None = None
        self.was_running = False
        self.log = log
        self.strict = strict
        self.front: StrictFront | None = None
        self.front_started = False

    def start(self) -> None:
        if self.explicit:
            if host.health(self.explicit) is None:
                raise UsageError(f"--endpoint {self.explicit}: no LocalStack answers /_localstack/health there; "
                                 "start it, or drop --endpoint to let stackmatrix start one in host mode")
            self.emulator_url = self.explicit.rstrip("/")
        elif external := host.find_external():
            self.emulator_url = external.rstrip("/")
            self.log(f"localstack: using the running LocalStack at {self.emulator_url}")
        else:
            self.was_running = host.status() is not None
            self.managed = host.start(log=self.log)
            self.emulator_url = self.managed.url.rstrip("/")
        self.endpoint = self.emulator_url
        if self.strict:
            name = host.FRONT if self.managed else f"localstack-{self.emulator_url.rsplit(':', 1)[-1]}"
            self.front_started = StrictFront.recorded(name, self.emulator_url) is None
            self.front = StrictFront.ensure(name, self.emulator_url)
            self.endpoint = self.front.url

    def access(self, cell_id: str, region: str, run_id: str) -> Access:
        account = account_for(run_id, cell_id)
        return Access(region, self.endpoint, account, TEST_SECRET, None, None, account)

    def reattach(self, deployment: Deployment) -> Access:
        if deployment.endpoint != self.endpoint:  # today's front (or the LocalStack itself)
            deployment.endpoint = self.endpoint
            deployment.save()
        return deployment.access()

    def describe(self) -> dict[str, str]:
        facts = {"target": "localstack", "endpoint": self.endpoint or ""}
        try:
            info = host.info(self.emulator_url)
            facts["localstack"] = str(info.get("version", "?"))
            facts["localstack_edition"] = str(info.get("edition", "?"))
        except host.LocalStackError as exc:
            facts["localstack"] = f"unknown ({exc})"
        facts["localstack_mode"] = "managed host mode" if self.managed else "external"
        facts["strict"] = strict_fact(self.front, self.emulator_url)
        return facts

    def stop(self, keep_running: bool = False) -> None:
        """End of a run. A managed LocalStack this run started, or one an earlier run kept for its
        cells, is ours: the deployment records decide whether it stays up (marked kept) or stops. One
        started by `localstack start` or by a run still going is left alone."""
        if self.managed is not None and (not self.was_running or host.is_kept()):
            if cells_on(self.emulator_url, self.endpoint):  # the records decide, not the run's --keep
                host.mark_kept()  # kept cells (this run's or earlier ones) still need it
            else:
                host.stop()  # its strict front with it
        elif self.front is not None and self.front_started and not keep_running and self.managed is None:
            self.front.stop()  # in front of a LocalStack the user runs: ours to stop
