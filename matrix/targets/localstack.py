"""The LocalStack target: a LocalStack the user runs (with their token), or one started here in host
mode (localstack_host.py) when none answers.

Endpoint, in order: `--endpoint`, `LOCALSTACK_ENDPOINT`, `AWS_ENDPOINT_URL`; when none of them
answers `/_localstack/health`, a managed host-mode LocalStack is started (its own venv, loopback
only) and stopped at the end of the run unless cells were kept or it was already running.

Accounts: LocalStack takes a 12-digit access key id as the account id, so each cell of each run
gets its own account (the same deterministic id the moto target uses) just by its keys; every client
(terraform, the AWS CLI, boto3) lands there with no custom header. `LOCALSTACK_AUTH_TOKEN` is passed
to a managed server when set and never written anywhere.

The clients are our own (matrix/clients.py: retries, counters) rather than `localstack-client`'s:
that library only sets endpoints, which our factory already does per target.
"""

from __future__ import annotations

from matrix.clients import Access
from matrix.errors import UsageError
from matrix.targets import localstack_host as host
from matrix.targets.base import Deployment, Target, account_for

TEST_SECRET = "test"  # noqa: S105 - LocalStack ignores the secret; any value signs


class LocalStackTarget(Target):
    name = "localstack"

    def __init__(self, endpoint: str | None = None, log=print) -> None:
        self.explicit = endpoint
        self.endpoint: str | None = None
        self.managed: host.LocalStackProcess | None = None
        self.was_running = False
        self.log = log

    def start(self) -> None:
        if self.explicit:
            if host.health(self.explicit) is None:
                raise UsageError(f"--endpoint {self.explicit}: no LocalStack answers /_localstack/health there; "
                                 "start it, or drop --endpoint to let stackmatrix start one in host mode")
            self.endpoint = self.explicit.rstrip("/")
            return
        external = host.find_external()
        if external:
            self.endpoint = external.rstrip("/")
            self.log(f"localstack: using the running LocalStack at {self.endpoint}")
            return
        self.was_running = host.status() is not None
        self.managed = host.start(log=self.log)
        self.endpoint = self.managed.url.rstrip("/")

    def access(self, cell_id: str, region: str, run_id: str) -> Access:
        account = account_for(run_id, cell_id)
        return Access(region, self.endpoint, account, TEST_SECRET, None, None, account)

    def reattach(self, deployment: Deployment) -> Access:
        return deployment.access()

    def describe(self) -> dict[str, str]:
        facts = {"target": "localstack", "endpoint": self.endpoint or ""}
        try:
            info = host.info(self.endpoint)
            facts["localstack"] = str(info.get("version", "?"))
            facts["localstack_edition"] = str(info.get("edition", "?"))
        except host.LocalStackError as exc:
            facts["localstack"] = f"unknown ({exc})"
        facts["localstack_mode"] = "managed host mode" if self.managed else "external"
        return facts

    def stop(self, keep_running: bool = False) -> None:
        if self.managed is not None and not keep_running and not self.was_running:
            host.stop()
