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
    ("%%{literal}", "%{literal}"),
    ("a $${b} %%{ if c } ${var.run_id}", "a ${b} %{ if c } r-42"),
    # template directives, as terraform renders them
    ("%{ if var.run_id == \"r-42\" }yes%{ else }no%{ endif }", "yes"),
    ("%{ if var.run_id != \"r-42\" }yes%{ else }no%{ endif }", "no"),
    ("%{ for az in data.aws_availability_zones.azs.names }${az};%{ endfor }", "us-east-1a;us-east-1b;us-east-1c;"),
    ("%{ for i, az in data.aws_availability_zones.azs.names }${i}=${az} %{ endfor }",
     "0=us-east-1a 1=us-east-1b 2=us-east-1c "),
    ("%{ for k, v in aws_vpc.vpc }${k}:${v},%{ endfor }", "cidr_block:10.0.0.0/16,id:vpc-1,"),
    ("[\n  %{~ for az in data.aws_availability_zones.azs.names ~}\n  ${az}\n  %{~ endfor ~}\n]",
     "[us-east-1aus-east-1bus-east-1c]"),
    ("a ${~ var.run_id ~} b", "ar-42b"),
    ("${length(data.aws_availability_zones.azs.names) > 2 ? \"many\" : \"few\"}", "many"),
    ("${!(1 < 2) || (2 >= 2 && 3 <= 3)}", True),
    ("${var.run_id == \"r-42\"}", True),
    ("${1 == \"1\"}", False),
    ("${-2}", -2),
    ("%{ if true }${var.run_id}%{ endif }", "r-42"),
    ("n=${600}", "n=600"),
    ("${cidrsubnet(aws_vpc.vpc.cidr_block, 4, 1)}", "10.0.16.0/20"),
    ("${cidrsubnet(\"2600:1f18:1234:5600::/56\", 8, 10)}", "2600:1f18:1234:560a::/64"),
    ("b=${true}", "b=true"),
    ({"k": ["${aws_vpc.vpc.cidr_block}"], "//": "metadata"}, {"k": ["10.0.0.0/16"]}),
])
def test_evaluate(value, expected):
    assert ex.evaluate(value, resolve) == expected


def test_references_are_listed_for_the_graph():
    refs = ex.references({"a": "${aws_vpc.vpc.id}", "b": ["${element(data.aws_availability_zones.azs.names, 0)}"],
                         "c": "x-${var.run_id}"})
    assert refs == {("aws_vpc", "vpc"), ("data", "aws_availability_zones", "azs"), ("var", "run_id")}


def test_lists_are_not_rendered_into_a_string_template():
    with pytest.raises(ex.UnsupportedExpression, match="cannot include a list in a string template"):
        ex.evaluate("x-${data.aws_availability_zones.azs.names}", resolve)


def test_template_variables_are_not_references():
    refs = ex.references("%{ for az in data.aws_availability_zones.azs.names }${az}-${var.run_id}%{ endfor }")
    assert refs == {("data", "aws_availability_zones", "azs"), ("var", "run_id")}
    assert ex.uses("${aws_vpc.vpc.cidr_block}") == [(("aws_vpc", "vpc"), "cidr_block", "aws_vpc.vpc.cidr_block")]


def test_unknown_values_propagate():
    with pytest.raises(ex.Unknown):
        ex.evaluate("${aws_subnet.new.id}", resolve)


@pytest.mark.parametrize("expr, reason", [
    ("${cidrhost(aws_vpc.vpc.cidr_block, 4)}", "function cidrhost() is not supported"),
    ("${aws_subnet.x[*].id}", "splat"),
    ("${local.name}", "local.* references are not supported"),
    ("${aws_vpc.vpc.id + 1}", "unsupported syntax"),
    ("${az}", "unknown name 'az'"),
    ("%{ if var.run_id }x", "without %{ endif }"),
    ("%{ for az in data.aws_availability_zones.azs.names }${az}", "without %{ endfor }"),
    ("%{ while true }x%{ endwhile }", "unsupported template directive"),
    ("%{ else }", "unsupported template directive"),
    ("${aws_vpc.vpc.id", "unterminated"),
])
def test_unsupported_expressions_are_named(expr, reason):
    with pytest.raises(ex.UnsupportedExpression) as err:
        ex.check(expr)
    assert reason in str(err.value)


# -- the same templates rendered by terraform itself ------------------------------------------------

CONSOLE_CASES = [
    "%{ for i, z in var.zones }${i}=${z} %{ endfor }",
    "[\n  %{~ for z in var.zones ~}\n  ${z}\n  %{~ endfor ~}\n]",
    "a ${~ var.run_id ~} b",
    "%%{literal} $${x} ${var.run_id}",
    "%{ if var.run_id == \"r-42\" }yes%{ else }no%{ endif }",
    "%{ if length(var.zones) > 2 && !(var.run_id != \"r-42\") }many%{ endif }",
    "${length(var.zones) >= 3 ? \"three\" : \"fewer\"}",
    "n=${600} f=${1.5} b=${true} c=${cidrsubnet(\"10.0.0.0/16\", 4, 3)}",
    "%{ for k, v in var.tags }${k}:${v};%{ endfor }",
]
CONSOLE_VARS = {"run_id": "r-42", "zones": ["us-east-1a", "us-east-1b", "us-east-1c"], "tags": {"b": "2", "a": "1"}}


def test_templates_render_as_terraform_console_renders_them(tmp_path):
    import json
    import os
    import shutil
    import subprocess

    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not on PATH")
    (tmp_path / "main.tf.json").write_text(json.dumps(
        {"variable": {k: {"default": v} for k, v in CONSOLE_VARS.items()}}))
    env = {**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null"}

    def ours(parts):
        if parts[0] == "var":
            return CONSOLE_VARS[parts[1]]
        raise ex.Unknown(parts)

    for case in CONSOLE_CASES:
        # an HCL quoted template: quotes inside ${ } and %{ } stay as they are, newlines become \n
        hcl = 'jsonencode("' + case.replace("\n", "\\n") + '")'
        proc = subprocess.run([terraform, "console"], input=hcl + "\n", cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr
        theirs = json.loads(json.loads(proc.stdout.strip()))
        assert ex.evaluate(case, ours) == theirs, case
