"""StackConfig: AWS limits refused at construction, derived names and subnets."""

from __future__ import annotations

import ipaddress

import pytest

from matrix.cells import expand
from stack.config import BackendConfig, StackConfig, StackConfigError

BACKEND = BackendConfig(bucket="stackmatrix-tfstate-us-east-1", key="dev/x.tfstate", region="us-east-1")


def cfg(**kw) -> StackConfig:
    return StackConfig(**{"region": "us-east-1", "suffix": "dev", "backend": BACKEND, **kw})


@pytest.mark.parametrize("interval", [0, 30, 120, 300, 599, 601, 3600])
def test_flow_log_interval_other_than_60_or_600_is_refused(interval):
    with pytest.raises(StackConfigError, match=r"flow_log_interval .*60 or 600"):
        cfg(flow_log_interval=interval)


@pytest.mark.parametrize("interval", [60, 600])
def test_flow_log_interval_60_and_600_are_accepted(interval):
    assert cfg(flow_log_interval=interval).flow_log_interval == interval


def test_log_retention_must_be_a_cloudwatch_value():
    with pytest.raises(StackConfigError, match="log_retention_days 13"):
        cfg(log_retention_days=13)
    assert cfg(log_retention_days=30).log_retention_days == 30


@pytest.mark.parametrize("cidr", ["10.0.0.0/16", "172.16.0.0/20", "192.168.10.0/24", "10.8.0.0/18"])
@pytest.mark.parametrize("azs", [1, 2, 3, 6, 8])
def test_subnets_are_derived_inside_the_vpc_and_never_overlap(cidr, azs):
    public, private = cfg(vpc_cidr=cidr, az_count=azs).subnet_cidrs()
    nets = [ipaddress.ip_network(c) for c in public + private]
    vpc = ipaddress.ip_network(cidr)
    assert len(nets) == 2 * azs
    assert all(n.subnet_of(vpc) for n in nets)
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])


@pytest.mark.parametrize("cidr", ["10.0.0.0/8", "10.0.0.0/25", "10.0.0.1/16", "fd00::/56", "nope"])
def test_bad_vpc_cidr(cidr):
    with pytest.raises(StackConfigError, match="vpc_cidr"):
        cfg(vpc_cidr=cidr)


def test_names_carry_the_suffix_and_global_names_the_region():
    c = cfg(suffix="qa", region="eu-west-1",
            backend=BackendConfig(bucket="b-eu-west-1", key="qa/x.tfstate", region="eu-west-1"))
    assert c.role_name == "stackmatrix-flowlogs-eu-west-1-qa"
    assert "qa" in c.log_group_name and c.name("vpc").endswith("qa-vpc")
    assert c.tags["EnvironmentSuffix"] == "qa" and c.tags["Region"] == "eu-west-1"


def test_fault_cells_get_their_own_names():
    plain, faulty = expand("dev")[0].stack_config(), None
    from matrix.cells import Cell

    faulty = Cell("us-east-1", "dev", "latency", "moto", "embedded", "dev").stack_config()
    assert plain.role_name != faulty.role_name and plain.stack_id != faulty.stack_id
    assert faulty.tags["Fault"] == "latency"


def test_dynamodb_locking_needs_a_table():
    with pytest.raises(StackConfigError, match=r"needs backend\.dynamodb_table"):
        cfg(backend=BackendConfig(bucket="bucket-x", key="dev/x.tfstate", region="us-east-1", locking="dynamodb"))
    ok = cfg(backend=BackendConfig(bucket="bucket-x", key="dev/x.tfstate", region="us-east-1", locking="both",
                                   dynamodb_table="locks"))
    assert ok.backend.use_lockfile and ok.backend.lock_table == "locks"


def test_unencrypted_backend_is_refused():
    with pytest.raises(StackConfigError, match="encrypt"):
        cfg(backend=BackendConfig(bucket="bucket-x", key="dev/x.tfstate", region="us-east-1", encrypt=False))


def test_round_trip_through_json_shape():
    c = expand("nightly", regions=["ap-northeast-1"], suffixes=["prod"])[0].stack_config()
    assert StackConfig.from_dict(c.to_dict()) == c
