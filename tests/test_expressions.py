"""Terraform JSON expressions: references, templates, functions, and refusal of the rest."""

from __future__ import annotations

import pytest

from matrix.engines.embedded import expressions as ex

VALUES = {
    ("aws_vpc", "vpc"): {"id": "vpc-1", "cidr_block": "10.0.0.0/16"},
    ("data", "aws_availability_zones", "azs"): {"names": ["us-east-1a", "us-east-1b", "us-east-1c"]},
    ("var", "run_id"): "r-42",
}


def resolve(parts):
    if parts in VALUES:
        return VALUES[parts]
    raise ex.Unknown(parts)


@pytest.mark.parametrize("value, expected", [
    ("${aws_vpc.vpc.id}", "vpc-1"),
    ("${element(data.aws_availability_zones.azs.names, 1)}", "us-east-1b"),
    ("${element(data.aws_availability_zones.azs.names, 4)}", "us-east-1b"),  # wraps like terraform
    ("${data.aws_availability_zones.azs.names[2]}", "us-east-1c"),
    ("arn:${aws_vpc.vpc.id}:*", "arn:vpc-1:*"),
    ("${var.run_id}", "r-42"),
    ("${length(data.aws_availability_zones.azs.names)}", 3),
    ("${join(\",\", [\"a\", \"b\"])}", "a,b"),
    ("plain", "plain"),
    ("$${literal}", "${literal}"),
    ({"k": ["${aws_vpc.vpc.cidr_block}"], "//": "metadata"}, {"k": ["10.0.0.0/16"]}),
])
def test_evaluate(value, expected):
    assert ex.evaluate(value, resolve) == expected


def test_references_are_listed_for_the_graph():
    refs = ex.references({"a": "${aws_vpc.vpc.id}", "b": ["${element(data.aws_availability_zones.azs.names, 0)}"],
                         "c": "x-${var.run_id}"})
    assert refs == {("aws_vpc", "vpc"), ("data", "aws_availability_zones", "azs"), ("var", "run_id")}


def test_unknown_values_propagate():
    with pytest.raises(ex.Unknown):
        ex.evaluate("${aws_subnet.new.id}", resolve)


@pytest.mark.parametrize("expr, reason", [
    ("${cidrsubnet(aws_vpc.vpc.cidr_block, 4, 1)}", "function cidrsubnet() is not supported"),
    ("${aws_subnet.x[*].id}", "splat"),
    ("${local.name}", "local.* references are not supported"),
    ("${aws_vpc.vpc.id == \"x\" ? 1 : 2}", "unsupported syntax"),
    ("${aws_vpc.vpc.id", "unterminated"),
])
def test_unsupported_expressions_are_named(expr, reason):
    with pytest.raises(ex.UnsupportedExpression) as err:
        ex.check(expr)
    assert reason in str(err.value)
