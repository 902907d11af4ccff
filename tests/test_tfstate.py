"""The state snapshot: json's C encoder (one line) instead of the indented text, the same document.

Every reader parses the snapshot (terraform, State.from_json, the reliability harness) and the digest
is the md5 of the bytes written, so the layout may change; the content may not: the same keys in the
same order (terraform's `version` first), the same numbers, strings and escapes as the indented text.
"""

from __future__ import annotations

import json

from matrix.state.tfstate import State


def _state() -> State:
    state = State()
    state.set("aws_vpc.main", {"id": "vpc-1", "cidr_block": "10.0.0.0/16", "enable_dns_hostnames": True,
                               "ratio": 0.1, "big": 2**70, "none": None, "tags": {"Name": "Größe ✓ \"q\" \\ \n"},
                               "route": [{"cidr_block": "0.0.0.0/0", "gateway_id": ""}]}, ["aws_b.x", "aws_a.y"])
    state.set("data.aws_region.current", {"name": "us-east-1"})
    state.depose("aws_vpc.main")
    state.set("aws_vpc.main", {"id": "vpc-2"})
    state.set_outputs({"vpc_id": "vpc-2", "azs": ["a", "b"]}, {"vpc_id"})
    return state


def test_snapshot_is_the_indented_document_on_one_line():
    state = _state()
    text = state.snapshot()
    indented = json.dumps(state.data, indent=2, sort_keys=False)  # what snapshot() wrote before
    assert "\n" not in text and len(text) < len(indented)
    assert json.loads(text) == json.loads(indented) == state.data
    # same key order, same number and string spellings: re-indented, byte for byte the old text
    assert json.dumps(json.loads(text), indent=2) == indented
    assert list(json.loads(text)) == ["version", "terraform_version", "serial", "lineage", "outputs", "resources",
                                      "check_results"]
    assert text.isascii() and "\\u00df" in text  # non-ASCII escaped as before (ensure_ascii)


def test_snapshot_round_trips_through_from_json_with_serial_and_lineage():
    state = _state()
    again = State.from_json(state.snapshot())
    assert again.data == state.data and again.serial == state.serial == 5 and again.lineage == state.lineage
    assert again.snapshot() == state.snapshot()
    assert again.deposed() == state.deposed() and again.outputs() == state.outputs()
