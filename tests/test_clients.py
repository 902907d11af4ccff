"""Cells share what is expensive to build, not what is theirs (matrix/clients.py).

Two cells' client factories in one process use the one botocore loader (a service model file is read
and parsed once), while each keeps its own credentials (the signature of every request names the
cell's access key), region, event handlers and counters; factories made from many threads at once
still share the one loader.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from matrix import clients
from matrix.clients import Access, ClientFactory, shared_loader


@pytest.fixture
def fresh_loader(monkeypatch) -> Counter:
    """A new process-wide loader for this test; counts the model files it reads, by file name."""
    monkeypatch.setattr(clients, "_loader", None)
    loader = shared_loader()
    reads: Counter = Counter()
    load_file = loader.file_loader.load_file

    def counting(path):
        reads[path.rsplit("/", 3)[-3] + "/" + path.rsplit("/", 1)[-1]] += 1
        return load_file(path)

    monkeypatch.setattr(loader.file_loader, "load_file", counting)
    return reads


def signer_keys(factory: ClientFactory) -> list[str]:
    """Collects the access key named in each request's Authorization header."""
    seen: list[str] = []

    def before_send(request=None, **_):
        auth = request.headers.get("Authorization", b"")
        auth = auth.decode() if isinstance(auth, bytes) else auth
        seen.append(auth.split("Credential=", 1)[1].split("/", 1)[0])

    factory.add_hook("before-send", before_send)
    return seen


def test_two_cells_share_the_loader_but_not_credentials_or_counters(moto_url, fresh_loader):
    a = ClientFactory(Access("us-east-1", moto_url, "AKIDCELLAAAAAAAAAAAA", "secret-a"))
    b = ClientFactory(Access("eu-west-1", moto_url, "AKIDCELLBBBBBBBBBBBB", "secret-b"))
    keys_a, keys_b = signer_keys(a), signer_keys(b)
    ec2_a, ec2_b = a.client("ec2"), b.client("ec2")

    assert a.botocore_session.get_component("data_loader") is shared_loader()
    assert b.botocore_session.get_component("data_loader") is shared_loader()
    assert a.botocore_session is not b.botocore_session
    for data in ("ec2/service-2", "ec2/endpoint-rule-set-1", "botocore/endpoints", "botocore/partitions"):
        assert fresh_loader[data] == 1, fresh_loader  # read and parsed once for both cells

    ec2_a.describe_vpcs()
    ec2_a.describe_vpcs()
    ec2_b.describe_vpcs()
    assert a.counters.calls["ec2"] == 2 and b.counters.calls["ec2"] == 1
    assert keys_a == ["AKIDCELLAAAAAAAAAAAA"] * 2 and keys_b == ["AKIDCELLBBBBBBBBBBBB"]
    assert ec2_a.meta.region_name == "us-east-1" and ec2_b.meta.region_name == "eu-west-1"
    assert a.session.get_credentials().access_key != b.session.get_credentials().access_key


def test_factories_made_in_threads_share_one_loader_and_count_apart(moto_url, fresh_loader):
    factories: list[ClientFactory] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def cell(n: int) -> None:
        try:
            start.wait()
            f = ClientFactory(Access("us-east-1", moto_url, f"AKIDTHREAD{n:010d}", f"secret-{n}"))
            for _ in range(n + 1):
                f.client("ec2").describe_vpcs()
            factories.append(f)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=cell, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert {id(f.botocore_session.get_component("data_loader")) for f in factories} == {id(shared_loader())}
    assert sorted(f.counters.calls["ec2"] for f in factories) == [1, 2, 3, 4, 5, 6]
