"""Hypothesis strategies for the fuzz battery: the inputs a user can hand stackmatrix, right and wrong.

Each strategy mixes three kinds of values, so that examples get deep into validation instead of
failing at the first key: values that are valid (real regions, suffixes, scenario names, rule
fields), values that are almost valid (wrong case, off by one, a template with an unknown or
dangerous placeholder, a path that walks out of its folder) and arbitrary text and numbers.

* `profile_documents()`  profile files: a TOML document built from a profile-shaped structure, or a
                         valid profile file with its text mutated (the TOML parser's errors)
* `rule_documents()`     chaos rule files in our schema, LocalStack Chaos and AWS FIS formats (flat
                         and experiment templates), as JSON or TOML, or mutated text
* `id_argvs()`           cell selection and cell ids: --region/--suffix/--fault/--shard, env CELL,
                         destroy CELL..., force-unlock ID --cell CELL, sweep --run-id ID
* `cli_argvs(parser)`    any subcommand with any of its options (read from the real parser) and
                         values; commands that would start real work get a "poison" argument that
                         validation must refuse (see fuzz.py)
* `synth_documents()`    Terraform JSON documents for `python -m matrix check`

`toml_dumps()` writes the structures as TOML (tables, arrays of tables, inline values).
"""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import strategies as st

REGIONS = ("us-east-1", "eu-west-1", "ap-northeast-1", "us-west-1", "us-west-2", "eu-central-1", "sa-east-1")
NEAR_REGIONS = ("US-EAST-1", "us-east-9", "us-east", "mars-north-1", "us_east_1", " us-east-1", "eu-west-1 ",
                "cn-north-1", "us-gov-west-1", "aws-global", "local", "*")
SUFFIXES = ("dev", "qa", "stage", "prod", "a", "x1", "feature-42")
NEAR_SUFFIXES = ("Dev", "d_v", "dé", "-dev", "dev-", "a" * 40, "a" * 200, "1dev", "dev.1", "dev/qa", "..",
                 "{project}", "{region}", "{0}", "%s", "$HOME", "dev qa", "dev\nqa", "null", "none")
PROFILES = ("dev", "nightly", "prerelease", "nightly-chaos", "nope", "")
TEMPLATE_FIELDS = ("project", "region", "suffix", "name_suffix", "stack_id")
CELL_PATHS = ("../runs/", "../outputs/", "../deployments/", "../cells/us-east-1-dev/result", "/", "..", ".",
              "../../", "a/b", "%2e%2e/", "~")

safe_chars = st.characters(blacklist_categories=("Cs",))  # no lone surrogates: files are UTF-8
short_text = st.text(safe_chars, max_size=16)


def near_or(valid: tuple[str, ...], near: tuple[str, ...] = (), text=short_text) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(valid), st.sampled_from(near) if near else st.nothing(), text)


def fault_names() -> tuple[str, ...]:
    from matrix.chaos.scenarios import SCENARIOS

    return (*SCENARIOS, "none")


# -- TOML ------------------------------------------------------------------------------------------

BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if BARE_KEY.match(k) else json.dumps(k, ensure_ascii=False)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(repr(v), repr(v))
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v if x is not None) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items() if x is not None) + "}"
    return json.dumps(str(v))


def toml_dumps(data: dict[str, Any], prefix: str = "") -> str:
    """A TOML document for `data`: plain keys first, then [tables] and [[arrays of tables]] (None left out)."""
    plain, tables, arrays = [], [], []
    for k, v in data.items():
        if v is None:
            continue
        if isinstance(v, dict):
            tables.append((k, v))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            arrays.append((k, v))
        else:
            plain.append(f"{_key(k)} = {_value(v)}\n")
    out = "".join(plain)
    for k, v in tables:
        name = f"{prefix}.{_key(k)}" if prefix else _key(k)
        out += f"\n[{name}]\n" + toml_dumps(v, name)
    for k, items in arrays:
        name = f"{prefix}.{_key(k)}" if prefix else _key(k)
        for item in items:
            out += f"\n[[{name}]]\n" + toml_dumps(item, name)
    return out


def mutate(text: str, data: st.DataObject) -> str:
    """A few random edits (delete, duplicate, insert) of `text`."""
    for _ in range(data.draw(st.integers(1, 4))):
        if not text:
            break
        i = data.draw(st.integers(0, len(text) - 1))
        j = data.draw(st.integers(i, min(len(text), i + 12)))
        kind = data.draw(st.sampled_from(("delete", "duplicate", "insert", "replace")))
        piece = data.draw(st.sampled_from(("=", "[", "]", "\"", "{", "}", ",", "\n", "#", "'", "[[", "\\",
                                            "x", "1", "-", ".", " ")) | short_text)
        if kind == "delete":
            text = text[:i] + text[j:]
        elif kind == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        elif kind == "insert":
            text = text[:i] + piece + text[i:]
        else:
            text = text[:i] + piece + text[j:]
    return text


# -- profiles --------------------------------------------------------------------------------------

def templates() -> st.SearchStrategy[str]:
    field = st.sampled_from(TEMPLATE_FIELDS) | st.sampled_from(("nope", "0", "", "region.upper", "__class__"))
    tail = st.sampled_from(("", ".x", ".__class__", "[0]", "[9]", "[x]", "!r", "!z", ":>3", ":d", ":{suffix}",
                            "}", "{"))
    piece = st.builds(lambda f, t: "{" + f + t + "}", field, tail)
    literal = st.sampled_from(("", "-", "stackmatrix-", "tfstate-", "/", ".tfstate", "_", "UPPER", "a" * 70))
    return st.lists(piece | literal, min_size=1, max_size=4).map("".join) | short_text


def _scalar() -> st.SearchStrategy[Any]:
    return st.one_of(short_text, st.integers(-3, 2000), st.booleans(),
                     st.floats(allow_nan=True, allow_infinity=True), st.lists(short_text, max_size=3))


def mostly(valid: st.SearchStrategy, *others: st.SearchStrategy) -> st.SearchStrategy:
    """`valid` nine times in ten, else one of `others`: examples reach deep into validation."""
    if not others:
        return valid
    other = st.one_of(*others)  # (one_of drops repeated branches: weight through an integer draw)
    return st.integers(0, 9).flatmap(lambda i: valid if i < 9 else other)


def _profile_table() -> st.SearchStrategy[dict[str, Any]]:
    def axis(valid, near):
        return mostly(st.lists(mostly(st.sampled_from(valid), st.sampled_from(near), short_text), min_size=1,
                               max_size=3, unique=True), st.lists(short_text, max_size=3), _scalar())

    backend = st.fixed_dictionaries({}, optional={
        "bucket": mostly(st.sampled_from(("{project}-tfstate-{region}", "sm-{region}-{suffix}", "b-{stack_id}")),
                         templates()),
        "key": mostly(st.sampled_from(("{suffix}/{stack_id}.tfstate", "state/{name_suffix}.tfstate")), templates()),
        "dynamodb_table": mostly(st.sampled_from(("{project}-tflock", "locks")), templates()),
        "locking": mostly(st.sampled_from(("lockfile", "dynamodb", "both")), st.sampled_from(("none", "LOCKFILE")),
                          _scalar())})
    junk_backend = st.fixed_dictionaries({}, optional={"region": _scalar(), "junk": _scalar()})
    return st.fixed_dictionaries({  # None: the key is left out of the TOML
        "regions": mostly(axis(REGIONS, NEAR_REGIONS), st.none()),
        "suffixes": mostly(axis(SUFFIXES, NEAR_SUFFIXES), st.none())}, optional={
        "description": short_text, "faults": axis(fault_names(), ("None", "throttle", "")),
        "target": mostly(st.sampled_from(("moto", "localstack", "aws")), st.sampled_from(("Moto", "")), _scalar()),
        "engine": mostly(st.sampled_from(("embedded", "terraform")), st.sampled_from(("tf",)), _scalar()),
        "keep": mostly(st.booleans(), _scalar()), "jobs": mostly(st.integers(1, 8), st.integers(-2, 64), _scalar()),
        "backend": mostly(backend, junk_backend, _scalar()),
        "project": mostly(st.sampled_from(("stackmatrix", "proj", "p")),
                          st.sampled_from(("", "UP", "a" * 80, "a_b", "x.y")), short_text),
        "vpc_cidr": mostly(st.sampled_from(("10.0.0.0/16", "10.1.0.0/16", "172.16.0.0/16")),
                           st.sampled_from(("10.0.0.0/33", "10.0.0.1/16", "300.0.0.0/16", "10.0.0.0/28", "10.0.0.0/8",
                                            "::/0", "", "10.0.0.0/16/1")), short_text),
        "nat_mode": mostly(st.sampled_from(("per-az", "single")), st.sampled_from(("none", "PER-AZ")), _scalar()),
        "flow_log_interval": mostly(st.sampled_from((60, 600)), st.sampled_from((300, 0, -1)), _scalar()),
        "log_retention_days": mostly(st.sampled_from((1, 14, 30, 365)), st.sampled_from((0, 13, -5, 10**6)),
                                     _scalar()),
        "aws": st.dictionaries(short_text, _scalar(), max_size=2),
    })


def profile_structures() -> st.SearchStrategy[dict[str, Any]]:
    regions = st.dictionaries(mostly(st.sampled_from(REGIONS), st.sampled_from(NEAR_REGIONS)),
                              mostly(st.fixed_dictionaries({"azs": mostly(st.integers(1, 6), st.integers(-1, 10),
                                                                          _scalar())}),
                                     st.fixed_dictionaries({"x": _scalar()}), _scalar()), max_size=2)
    profiles = st.dictionaries(mostly(st.sampled_from(("dev", "x", "nightly")), short_text),
                               mostly(_profile_table(), _scalar()), min_size=1, max_size=2)
    sound = st.fixed_dictionaries({"profiles": profiles}, optional={"defaults": _profile_table(),
                                                                    "regions": regions})
    odd = st.fixed_dictionaries({}, optional={
        "profiles": profiles | _scalar(), "defaults": _scalar(), "regions": _scalar(),
        "extra": mostly(st.none(), _scalar())})  # None: left out of the TOML
    return mostly(sound, odd)


@st.composite
def profile_documents(draw) -> tuple[str, str]:
    """(TOML text, profile name to ask for)."""
    from matrix.cells import DEFAULT_PROFILES

    data = draw(st.data())
    kind = draw(st.sampled_from(("structured",) * 6 + ("mutated", "text")))
    if kind == "structured":
        doc = draw(profile_structures())
        names = list((doc.get("profiles") or {}) if isinstance(doc.get("profiles"), dict) else [])
        text = toml_dumps(doc)
    elif kind == "mutated":
        text = mutate(DEFAULT_PROFILES.read_text(), data)
        names = ["dev", "nightly", "prerelease"]
    else:
        text = draw(st.text(safe_chars, max_size=200))
        names = []
    name = draw(mostly(st.sampled_from(names), near_or(PROFILES)) if names else near_or(PROFILES))
    return text, name


# -- chaos rules -----------------------------------------------------------------------------------

SERVICES = ("ec2", "s3", "iam", "sts", "logs", "dynamodb", "*")
NEAR_SERVICES = ("EC2", "ec-2", "cloudwatch-logs", "lambda", "", "s4")
OPERATIONS = ("CreateVpc", "Create*", "Describe*", "PutObject", "GetObject", "CreateRole", "PutItem",
              "CreateLogGroup", "*", "AssumeRole", "PostObject")
NEAR_OPERATIONS = ("createvpc", "CreateVPC", "Create[", "Nope*", "CreateVpc,CreateSubnet", "")
CODES = ("InternalError", "ServiceUnavailable", "RequestLimitExceeded", "Throttling", "SlowDown",
         "ThrottlingException", "InvalidVpcID.NotFound", "NoSuchBucket", "AccessDenied")
NEAR_CODES = ("internalerror", "Boom", "", "503", "RequestLimitExceed")
DURATIONS = (0, 1, 1.5, "20s", "500ms", "5m", "1h", "PT1M", "PT1M30S", "pt5m", "PT", "-5", "5x", "1e9", -1, True)


def _rule_value(valid, near=()) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(valid), st.sampled_from(near) if near else st.nothing(), _scalar(),
                     st.lists(st.sampled_from(valid) | short_text, max_size=3))


def our_rules() -> st.SearchStrategy[dict[str, Any]]:
    """Rules in our schema: mostly coherent (an effect with its own fields), some fields odd."""
    def pick(valid, near=()):
        return mostly(st.sampled_from(valid) | st.lists(st.sampled_from(valid), min_size=1, max_size=2),
                      _rule_value(valid, near))

    common = {
        "name": mostly(st.sampled_from(("r1", "r2", "throttle", "slow", "storm")), short_text, _scalar()),
        "service": pick(("ec2", "s3", "iam", "sts", "logs", "dynamodb"), NEAR_SERVICES),
        "region": pick(("us-east-1", "eu-*", "*", "us-?ast-1"), ("US-EAST-1", "us east", "")),
        "mutating": mostly(st.booleans(), _scalar()),
        "probability": mostly(st.sampled_from((0, 0.3, 1, 1.0, 0.05)), st.sampled_from((1.5, -0.1, "0.5")),
                              st.floats(), _scalar()),
        "first": mostly(st.integers(1, 5), st.integers(-1, 0), _scalar()),
        "max_count": mostly(st.integers(1, 5), st.integers(-1, 0), _scalar()),
        "start_after": mostly(st.sampled_from(DURATIONS[:9]), st.sampled_from(DURATIONS), _scalar()),
        "duration": mostly(st.sampled_from(DURATIONS[:9]), st.sampled_from(DURATIONS), _scalar()),
        "unknown": st.none(),
    }
    per_effect = {
        "throttle": {"code": pick(CODES[2:6], NEAR_CODES), "status": st.sampled_from((400, 429, 503, 200, 600)),
                     "message": short_text},
        "error": {"code": pick(CODES, NEAR_CODES), "status": mostly(st.sampled_from((500, 503)),
                                                                    st.sampled_from((200, 600, 0)), _scalar()),
                  "message": mostly(short_text, _scalar())},
        "latency": {"latency_ms": mostly(st.sampled_from((1, 200, 0.5, 600_000)),
                                         st.sampled_from((0, -5, 600_001)), _scalar())},
        "reset": {"when": mostly(st.sampled_from(("before", "after")), st.sampled_from(("during",)), _scalar())},
    }

    def for_effect(effect: str) -> st.SearchStrategy[dict[str, Any]]:
        ops = ("Create*", "Describe*", "CreateVpc", "PutObject", "CreateRole", "PutItem", "CreateLogGroup", "*")
        fields = {**common, **per_effect.get(effect, {}), "operation": pick(ops, NEAR_OPERATIONS)}
        odd = {"code": pick(CODES), "latency_ms": st.integers(1, 5), "when": st.just("after"),
               "services": pick(SERVICES), "operations": pick(OPERATIONS), "regions": pick(REGIONS),
               "unknown": _scalar()}
        return st.fixed_dictionaries({"effect": st.just(effect)}, optional=fields).flatmap(
            lambda d: mostly(st.just(d), st.fixed_dictionaries({}, optional=odd).map(lambda o: {**d, **o})))

    effects = ("throttle", "error", "latency", "reset")
    return mostly(st.sampled_from(effects).flatmap(for_effect),
                  st.sampled_from(("Throttle", "delay", "", None)).flatmap(lambda e: for_effect(e)
                                                                          if e else st.fixed_dictionaries(common)))


def localstack_rules() -> st.SearchStrategy[dict[str, Any]]:
    error = st.fixed_dictionaries({}, optional={"statusCode": st.sampled_from((500, 503, 429, 404, 700)) | _scalar(),
                                                "code": _rule_value(CODES, NEAR_CODES), "message": _scalar(),
                                                "junk": _scalar()})
    return st.fixed_dictionaries({}, optional={
        "service": _rule_value(SERVICES, NEAR_SERVICES), "operation": _rule_value(OPERATIONS, NEAR_OPERATIONS),
        "region": _rule_value(REGIONS), "probability": st.floats() | _scalar(), "error": error | _scalar()})


def fis_rules() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"percentage": st.sampled_from((1, 30, 100, 0, 101, "50", "x")) | _scalar()},
                                 optional={
        "name": short_text, "service": _rule_value(SERVICES, NEAR_SERVICES),
        "operations": st.sampled_from(("CreateVpc,CreateSubnet", "CreateVpc", ",", "", "Nope")) | _scalar(),
        "duration": st.sampled_from(DURATIONS) | _scalar(), "region": _rule_value(REGIONS),
        "start_after": st.sampled_from(DURATIONS)})


def fis_templates() -> st.SearchStrategy[dict[str, Any]]:
    action_ids = st.sampled_from(("aws:fis:inject-api-throttle-error", "aws:fis:inject-api-internal-error",
                                  "aws:fis:inject-api-unavailable-error", "aws:fis:wait", "aws:ec2:stop-instances"))
    names = st.sampled_from(("a", "b", "c", "wait"))
    action = st.fixed_dictionaries({"actionId": action_ids | _scalar()}, optional={
        "parameters": st.fixed_dictionaries({}, optional={
            "service": _rule_value(SERVICES),
            "operations": st.sampled_from(("CreateVpc", "CreateVpc,CreateSubnet", "")),
            "percentage": st.sampled_from((10, 100, 0, "x")), "duration": st.sampled_from(DURATIONS)}) | _scalar(),
        "startAfter": st.lists(names | short_text, max_size=2) | _scalar()})
    return st.fixed_dictionaries({"actions": st.dictionaries(names, action | _scalar(), max_size=3) | _scalar()},
                                 optional={"description": short_text, "targets": _scalar()})


@st.composite
def rule_documents(draw) -> tuple[str, str]:
    """(file suffix, text) of a rule file."""
    from matrix.chaos.scenarios import SCENARIOS

    data = draw(st.data())
    kind = draw(st.sampled_from(("list", "list", "top", "single", "template", "mutated", "text")))
    items = st.lists(mostly(our_rules(), localstack_rules(), fis_rules(), _scalar()), max_size=4)
    if kind == "list":
        doc: Any = draw(items)
    elif kind == "top":
        doc = draw(st.fixed_dictionaries({"rules": items | _scalar()}, optional={
            "seed": st.integers(-5, 2**64) | _scalar(), "format": near_or(("auto", "stackmatrix", "localstack", "fis")),
            "description": short_text, "junk": _scalar()}))
    elif kind == "single":
        doc = draw(our_rules() | localstack_rules() | fis_rules())
    elif kind == "template":
        doc = draw(fis_templates())
    else:
        doc = None
    if doc is None:
        base = json.dumps({"seed": 7, "rules": [dict(r) for s in SCENARIOS.values() for r in s.rules]}, indent=1)
        text = mutate(base, data) if kind == "mutated" else draw(st.text(safe_chars, max_size=200))
        return draw(st.sampled_from((".json", ".toml", ".txt"))), text
    if draw(st.booleans()) and isinstance(doc, dict | list):
        table = doc if isinstance(doc, dict) else {"rules": doc}
        return ".toml", toml_dumps(table)
    return ".json", json.dumps(doc, ensure_ascii=False, allow_nan=True)


# -- cell ids --------------------------------------------------------------------------------------

def cell_ids() -> st.SearchStrategy[str]:
    composed = st.builds(lambda r, s, f: f"{r}-{s}" + (f"-{f}" if f else ""), near_or(REGIONS, NEAR_REGIONS),
                         near_or(SUFFIXES, NEAR_SUFFIXES), st.sampled_from(("", "throttle-ec2", "nope")))
    traversal = st.builds(lambda p, t: p + t, st.sampled_from(CELL_PATHS),
                          st.sampled_from(("", "us-east-1-dev", "passwd", "x", "result", "run")) | short_text)
    return st.one_of(st.just("us-east-1-dev"), composed, traversal, short_text)


@st.composite
def id_argvs(draw) -> list[str]:
    kind = draw(st.sampled_from(("cells", "cells", "cells", "env", "destroy", "force-unlock", "sweep")))
    if kind == "cells":
        argv = ["cells", "--profile", draw(st.sampled_from(("dev", "nightly", "prerelease")))]
        for flag, values in (("--region", near_or(REGIONS, NEAR_REGIONS)),
                             ("--suffix", near_or(SUFFIXES, NEAR_SUFFIXES)),
                             ("--fault", near_or(fault_names(), ("None", "throttle")))):
            for v in draw(st.lists(values, max_size=3)):
                argv += [flag, v]
        if draw(st.booleans()):
            argv += ["--shard", draw(st.from_regex(r"\A-?\d{0,3}/-?\d{0,3}\Z") | short_text
                                     | st.sampled_from(("1/1", "2/4", "0/0", "5/4", " 1/2", "1/2 ", "\u0661/\u0662")))]
        if draw(st.booleans()):
            argv += ["--format", draw(st.sampled_from(("table", "json", "github")))]
        return argv
    if kind == "env":
        return ["env", draw(cell_ids())]
    if kind == "destroy":
        return ["destroy", *draw(st.lists(cell_ids(), min_size=1, max_size=3))]
    if kind == "force-unlock":
        return ["force-unlock", draw(short_text | st.uuids().map(str)), "--cell", draw(cell_ids())]
    return ["sweep", "--run-id", draw(st.sampled_from(("fuzz-run", "nope")) | cell_ids())]


# -- CLI arguments ---------------------------------------------------------------------------------

NUMBERS = ("0", "1", "-1", "2", "3.5", "nan", "inf", "-inf", "1e309", "99999999999999999999", "0x10", "", " 3")


def option_table(parser) -> dict[str, dict[str, Any]]:
    """command -> {"options": {flag: nargs}, "positionals": [(dest, nargs, choices)]} from the parser."""
    import argparse

    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    table = {}
    for name, sp in sub.choices.items():
        opts, pos = {}, []
        for a in sp._actions:
            if a.dest == "help":
                continue
            if a.option_strings:
                opts[a.option_strings[0]] = (a.nargs, a.choices)
            else:
                pos.append((a.dest, a.nargs, a.choices))
        table[name] = {"options": opts, "positionals": pos}
    return table


def token() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(NUMBERS), st.sampled_from(REGIONS + NEAR_REGIONS + SUFFIXES + NEAR_SUFFIXES),
                     st.sampled_from(fault_names()), st.sampled_from(PROFILES), short_text,
                     st.sampled_from(("-", "--", "-x", "--profile=dev", "--jobs=0", "@file", "s3://b/p",
                                      "http://127.0.0.1:1", "x=y", "throttle-ec2=survive", "1/2")))


@st.composite
def cli_argvs(draw, table: dict[str, dict[str, Any]], excluded: frozenset[str] = frozenset()) -> list[str]:
    command = draw(st.sampled_from(sorted(table)))
    spec = table[command]
    argv = [command]
    options = [o for o in spec["options"] if o not in excluded]
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(("option", "option", "option", "positional", "junk")))
        if kind == "option" and options:
            flag = draw(st.sampled_from(options))
            nargs, choices = spec["options"][flag]
            argv.append(flag)
            if nargs == 0:
                continue
            count = 1 if nargs in (None, "?") else draw(st.integers(1, 2))
            for _ in range(count):
                argv.append(draw(st.sampled_from(choices) | token()) if choices else draw(token()))
        elif kind == "positional":
            argv.append(draw(token()))
        else:
            argv.append(draw(st.sampled_from(("--no-such-option", "-Z", "--help-me")) | token()))
    for _dest, nargs, choices in spec["positionals"]:
        if nargs in (None, "+") and draw(st.integers(0, 9)) > 0:
            argv.append(draw(st.sampled_from(choices)) if choices else draw(token()))
    return argv


# -- synthesized documents for `check` -------------------------------------------------------------

POLICY_TEXTS = ('{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}',
                '{"Statement": [{"Effect": "Allow", "Resource": 5}]}', '{"Statement": "x"}', '{"Statement": 7}',
                '{"Statement": [{"Resource": {"a": 1}}]}', '[]', '{"Version": 1}', 'not json', '{"Statement": [null]}',
                '{"Statement": [{"Effect": 3, "Action": ["s3:*"], "Resource": ["arn:*", null]}]}')


def _json_value(depth: int = 2) -> st.SearchStrategy[Any]:
    leaf = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=False), short_text,
                     st.sampled_from(("${aws_vpc.vpc.id}", "${var.x}", "${element(data.aws_availability_zones"
                                      ".azs.names, 0)}", "10.0.0.0/16", "us-east-1", "eu-west-1", "${", "}", "*",
                                      "${aws_iam_role.flow-logs-role.arn}", "${data.aws_region.current.name}")),
                     st.sampled_from(POLICY_TEXTS))
    return st.recursive(leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        short_text | st.sampled_from(("Statement", "Effect", "Resource", "Action", "tags", "region", "name",
                                      "statement", "resources", "effect", "cidr_block", "alias")), inner, max_size=3),
                        max_leaves=8)


@st.composite
def synth_documents(draw) -> str:
    """Text of a cdk.tf.json: a real one with a part replaced, a shaped one, or junk."""
    from matrix.paths import PROJECT_ROOT

    kind = draw(st.sampled_from(("patched", "patched", "shaped", "text")))
    if kind == "text":
        return draw(st.text(safe_chars, max_size=120))
    if kind == "shaped":
        types = st.sampled_from(("aws_vpc", "aws_subnet", "aws_iam_role", "aws_flow_log", "aws_s3_bucket",
                                 "aws_nat_gateway", "aws_iam_role_policy")) | short_text
        resource = st.dictionaries(types, st.dictionaries(short_text, _json_value(), max_size=2) | _json_value(),
                                   max_size=3) | _json_value()
        doc = draw(st.fixed_dictionaries({}, optional={
            "resource": resource,
            "provider": st.fixed_dictionaries({}, optional={"aws": _json_value()}) | _json_value(),
            "terraform": st.fixed_dictionaries({}, optional={"backend": _json_value()}) | _json_value(),
            "data": _json_value(), "output": _json_value()}))
        return json.dumps(doc)
    synth = PROJECT_ROOT / "build" / "synth" / "us-east-1-dev" / "cdk.tf.json"
    doc = json.loads(synth.read_text()) if synth.is_file() else {"resource": {}}
    for _ in range(draw(st.integers(1, 3))):  # replace one value somewhere deep in the document
        node: Any = doc
        for _depth in range(draw(st.integers(1, 7))):
            keys = sorted(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            child = node[key]
            if not isinstance(child, dict | list) or not child or draw(st.integers(0, 3)) == 0:
                node[key] = draw(_json_value())
                break
            node = child
    return json.dumps(doc)
