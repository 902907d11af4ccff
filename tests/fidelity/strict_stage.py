"""The strict-emulator stage: each case's raw API call replayed through the strict proxy, synth off.

A moto server (in this process, 127.0.0.1) gets a fresh account holding what the calls refer to:
a 10.0.0.0/16 VPC with a public and a private subnet, an attached internet gateway, their route
tables, a log group and the flow-logs role (`_world`). The strict proxy (matrix/chaos/strict.py,
`FaultProxy(strict=True)`) sits in front. Each case's call (placeholders filled from that world) is
made with a real botocore client through the proxy: caught when the proxy refuses it with the case's
AWS error code. The same call straight to moto says what the emulator alone refuses (reported beside).
False positives: every operation's clean call (corpus.BASE_CALLS, nothing set wrong) must pass.
"""

from __future__ import annotations

import copy
import json
import logging
import uuid
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
from botocore.parsers import ResponseParserError
from corpus import BASE_CALLS, REGION, Case
from stages import Outcome

from matrix.catalogue import SynthDoc

STRICT_MARK = "[stackmatrix strict:"
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request lines


class StrictStage:
    name = "strict"
    fp_scope = "the clean call of every operation the corpus uses"

    def __init__(self) -> None:
        self.server = self.proxy = None

    def unavailable(self) -> str | None:
        try:
            from matrix.chaos.proxy import FaultProxy  # noqa: F401
            from matrix.chaos.strict import StrictChecker  # noqa: F401
        except ImportError as exc:
            return f"the strict emulator is not in this checkout ({exc})"
        return None

    # -- the emulator, the proxy and the world the calls refer to -----------------------------------
    def _start(self) -> None:
        from moto.server import ThreadedMotoServer

        from matrix.chaos.proxy import FaultProxy

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.moto_url = f"http://{host}:{port}"
        self.proxy = FaultProxy(self.moto_url, strict=True).start()
        self.account = f"{uuid.uuid4().int % 10**12:012d}"

    def _stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        if self.server is not None:
            self.server.stop()

    def _client(self, service: str, url: str) -> Any:
        client = boto3.client(service, region_name=REGION, endpoint_url=url, aws_access_key_id="testing",
                              aws_secret_access_key="testing",
                              config=Config(retries={"max_attempts": 1}))

        def account(request: Any, **_: Any) -> None:
            request.headers["x-moto-account-id"] = self.account

        client.meta.events.register("before-sign.*.*", account)
        return client

    def _world(self) -> dict[str, str]:
        ec2, logs, iam = (self._client(s, self.moto_url) for s in ("ec2", "logs", "iam"))
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/20")["Subnet"]["SubnetId"]
        private = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.128.0/20")["Subnet"]["SubnetId"]
        igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        public_rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        private_rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        group = "/fidelity/flow-logs"
        logs.create_log_group(logGroupName=group)
        role = iam.create_role(RoleName="fidelity-flow-logs", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}}]}))
        return {"region": REGION, "vpc_id": vpc, "public_subnet_0": public, "private_subnet_0": private,
                "igw_id": igw, "public_rt": public_rt, "private_rt_0": private_rt, "log_group_name": group,
                "log_group_arn": f"arn:aws:logs:{REGION}:{self.account}:log-group:{group}",
                "role_arn": role["Role"]["Arn"], "role_name": "fidelity-flow-logs"}

    def _fill(self, value: Any, world: dict[str, str]) -> Any:
        if isinstance(value, str):
            for key, text in {**world, "unique": uuid.uuid4().hex[:10]}.items():
                value = value.replace("{" + key + "}", text)
            return value
        if isinstance(value, dict):
            return {k: self._fill(v, world) for k, v in value.items()}
        if isinstance(value, list):
            return [self._fill(v, world) for v in value]
        return value

    def _call(self, url: str, api: dict[str, Any], world: dict[str, str]) -> tuple[str | None, str]:
        """(error code or None, message) of one call."""
        client = self._client(api["service"], url)
        method = getattr(client, _snake(api["operation"]))
        try:
            method(**self._fill(copy.deepcopy(api["params"]), world))
        except ClientError as exc:
            err = exc.response.get("Error", {})
            return err.get("Code") or "?", err.get("Message", "")
        except ParamValidationError as exc:  # botocore refused before sending: the client alone caught it
            return "ParamValidation", str(exc)
        except (BotoCoreError, ResponseParserError) as exc:  # moto answers some bad values with a 500 page
            return type(exc).__name__, str(exc)[:200]
        return None, ""

    # -- the stage ---------------------------------------------------------------------------------
    def catches(self, cases: list[Case], clean: SynthDoc) -> dict[str, Outcome]:
        self._start()
        try:
            world = self._world()
            out = {}
            for case in cases:
                if case.api is None:
                    continue
                code, message = self._call(self.proxy.url, case.api, world)
                plain, _ = self._call(self.moto_url, case.api, world)
                by_strict = code is not None and STRICT_MARK in message
                out[case.id] = Outcome(
                    by_strict, f"{code}: {message[:160]}" if code else "accepted",
                    by_expected_rule=by_strict and code == case.aws.get("code"),
                    extra={"code": code, "emulator_alone": plain})
            return out
        finally:
            self._stop()

    def notes(self, outcomes: dict[str, Outcome]) -> list[str]:
        """What refused the calls the strict proxy did not: botocore itself, or the emulator alone."""
        client = sorted(cid for cid, o in outcomes.items() if o.extra.get("code") == "ParamValidation")
        plain = sorted(cid for cid, o in outcomes.items() if o.extra.get("emulator_alone"))
        missed_plain = [cid for cid in plain if not outcomes[cid].caught and cid not in client]
        return [f"refused by botocore before sending (client-side min/required checks): {len(client)}",
                f"refused by the emulator alone (moto, no proxy): {len(plain)} of {len(outcomes)}; of the ones "
                f"the strict proxy let through: {', '.join(missed_plain) or 'none'}"]

    def false_positives(self, docs: list[SynthDoc]) -> list[str]:
        self._start()
        try:
            world = self._world()
            found = []
            for operation, params in BASE_CALLS.items():
                service = "iam" if operation in ("CreateRole", "PutRolePolicy") else \
                    "logs" if operation in ("CreateLogGroup", "PutRetentionPolicy") else "ec2"
                code, message = self._call(self.proxy.url, {"service": service, "operation": operation,
                                                            "params": params}, world)
                if code is not None and STRICT_MARK in message:
                    found.append(f"{operation}: refused {code}: {message[:200]}")
            return found
        finally:
            self._stop()


def _snake(name: str) -> str:
    out = ""
    for i, ch in enumerate(name):
        if ch.isupper() and i and (not name[i - 1].isupper() or (i + 1 < len(name) and name[i + 1].islower())):
            out += "_"
        out += ch.lower()
    return out
