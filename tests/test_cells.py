"""Profiles, cell expansion, overrides, sharding, and every kind of bad input (exit 2, nothing run)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matrix.__main__ import main
from matrix.cells import Cell, expand, load_profile_cells, parse_shard, shard
from matrix.errors import UsageError


def test_profiles_expand_to_the_documented_shapes():
    assert [c.id for c in load_profile_cells("dev")] == ["us-east-1-dev"]
    pre = load_profile_cells("prerelease")
    assert {(c.region, c.suffix) for c in pre} >= {("us-east-1", "qa"), ("eu-west-1", "stage")}
    nightly = load_profile_cells("nightly")
    assert len(nightly) == 12
    assert {c.region for c in nightly} == {"us-east-1", "eu-west-1", "ap-northeast-1"}
    assert {c.suffix for c in nightly} == {"dev", "qa", "stage", "prod"}
    assert len({c.id for c in nightly}) == 12
    assert all(c.target == "moto" and c.engine == "embedded" for c in nightly)


def test_overrides_replace_the_axes():
    cells = expand("nightly", regions=["eu-west-1"], suffixes=["qa", "prod"])
    assert [c.id for c in cells] == ["eu-west-1-qa", "eu-west-1-prod"]
    assert expand("dev", target="localstack", engine="terraform")[0].target == "localstack"


def test_cell_id_and_stack_config_carry_region_and_suffix():
    cell = expand("nightly", regions=["ap-northeast-1"], suffixes=["stage"])[0]
    cfg = cell.stack_config()
    assert cell.id == "ap-northeast-1-stage"
    assert cfg.backend.key == "stage/vpc-stage-ap-northeast-1.tfstate"
    assert cfg.backend.bucket == "stackmatrix-tfstate-ap-northeast-1"
    assert "ap-northeast-1" in cfg.role_name and "stage" in cfg.role_name


def test_a_region_listed_with_two_azs_gets_two():
    cell = expand("dev", regions=["us-west-1"])[0]
    assert cell.stack_config().az_count == 2
    assert expand("dev")[0].stack_config().az_count == 3


def test_cells_formats(capsys):
    assert main(["cells", "--profile", "nightly", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 12 and set(rows[0]) == {"id", "region", "suffix", "fault", "target", "engine", "profile"}
    assert main(["cells", "--profile", "nightly", "--format", "github"]) == 0
    matrix = json.loads(capsys.readouterr().out)
    assert list(matrix) == ["include"] and len(matrix["include"]) == 12
    assert {"cell", "region", "suffix", "fault"} <= set(matrix["include"][0])
    assert main(["cells", "--profile", "dev"]) == 0
    assert "us-east-1-dev" in capsys.readouterr().out


def _bad(capsys, args, *needles):
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"
    return err


def test_unknown_region_is_refused_with_a_suggestion(capsys):
    err = _bad(capsys, ["cells", "--profile", "dev", "--region", "us-est-1"], "'us-est-1'", "--region", "botocore")
    assert "did you mean" in err and "us-east-1" in err


def test_unknown_profile(capsys):
    _bad(capsys, ["cells", "--profile", "weekly"], "'weekly'",
         "available: chaos, dev, nightly, nightly-chaos, prerelease")


def test_duplicate_suffixes(capsys):
    _bad(capsys, ["cells", "--profile", "dev", "--suffix", "qa", "--suffix", "qa"], "'qa' is listed twice")


@pytest.mark.parametrize("suffix, needle", [
    ("QA", "lowercase"),
    ("a" * 50, "IAM role name"),
    ("x--", "inner hyphens"),
])
def test_suffix_that_makes_a_name_invalid(capsys, suffix, needle):
    _bad(capsys, ["cells", "--profile", "dev", "--suffix", suffix], needle, "--suffix")


def test_bucket_name_from_template_must_be_valid(capsys, tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('[defaults.backend]\nbucket = "Bad_Bucket_{suffix}"\n'
                 '[profiles.x]\nregions = ["us-east-1"]\nsuffixes = ["dev"]\n')
    _bad(capsys, ["cells", "--profiles", str(f), "--profile", "x"], "S3 state bucket", "Bad_Bucket_dev")


@pytest.mark.parametrize("body, needles", [
    ('[profiles.x]\nregions = []\nsuffixes = ["dev"]\n', ["regions is empty"]),
    ('[profiles.x]\nregions = ["us-east-1"]\nsuffixes = []\n', ["suffixes is empty"]),
    ('[profiles.x]\nregions = ["us-east-1"\nsuffixes = ["dev"]\n', ["not valid TOML", "line 3"]),
    ('[profiles.x]\nregion = ["us-east-1"]\nsuffixes = ["dev"]\n', ["unknown key 'region'", "allowed keys"]),
    ('[profiles.x]\nregions = "us-east-1"\nsuffixes = ["dev"]\n', ["regions", "must be a list"]),
    ('[profiles.x]\nregions = ["us-east-1"]\nsuffixes = ["dev"]\nflow_log_interval = 300\n',
     ["flow_log_interval 300", "60 or 600"]),
    ('[profiles.x]\nregions = ["us-east-1"]\nsuffixes = ["dev"]\nlog_retention_days = 13\n', ["log_retention_days 13"]),
    ('[profiles.x]\nregions = ["us-east-1"]\nsuffixes = ["dev"]\nfaults = ["earthquake"]\n',
     ["fault scenario 'earthquake'", "unknown"]),
    ('[profiles.x]\nregions = ["us-east-1"]\nsuffixes = ["dev"]\n[profiles.x.backend]\nlocking = "dynamodb"\n'
     'dynamodb_table = ""\n', ["needs backend.dynamodb_table"]),
])
def test_bad_profile_files(capsys, tmp_path, body, needles):
    f = tmp_path / "p.toml"
    f.write_text(body)
    _bad(capsys, ["cells", "--profiles", str(f), "--profile", "x"], str(f) if "TOML" in needles[0] else "", *needles)


def test_missing_profile_file(capsys, tmp_path):
    _bad(capsys, ["cells", "--profiles", str(tmp_path / "nope.toml")], "cannot be read", "--profiles")


@pytest.mark.parametrize("spec", ["0/2", "3/2", "a/b", "1/0", "1-2", "", "2"])
def test_bad_shard_spec(capsys, spec):
    _bad(capsys, ["cells", "--profile", "nightly", "--shard", spec], "--shard", "I/N")


def test_bad_input_runs_nothing(capsys, build):
    _bad(capsys, ["run", "--profile", "dev", "--region", "mars-north-1"], "mars-north-1")
    _bad(capsys, ["synth", "--profile", "dev", "--suffix", "NOPE"], "NOPE")
    _bad(capsys, ["run", "--profile", "dev", "--jobs", "0"], "--jobs")
    assert not build.exists(), "bad input must not create anything"


def test_shards_are_disjoint_complete_and_deterministic():
    cells = load_profile_cells("nightly")
    for total in range(1, 8):
        parts = [shard(cells, f"{i}/{total}") for i in range(1, total + 1)]
        ids = [c.id for part in parts for c in part]
        assert len(ids) == len(set(ids)) == len(cells)
        assert [c.id for c in shard(cells, f"1/{total}")] == [c.id for c in parts[0]]
        assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 1


@settings(max_examples=60, deadline=None)
@given(names=st.sets(st.from_regex(r"[a-z]{1,6}", fullmatch=True), min_size=1, max_size=20),
       total=st.integers(min_value=1, max_value=9))
def test_sharding_property(names, total):
    cells = [Cell("us-east-1", n, None, "moto", "embedded", "p") for n in names]
    parts = [shard(list(reversed(cells)), f"{i}/{total}") for i in range(1, total + 1)]
    flat = sorted(c.id for p in parts for c in p)
    assert flat == sorted(c.id for c in cells)


def test_parse_shard_errors_are_usage_errors():
    with pytest.raises(UsageError):
        parse_shard("5/4")
    assert parse_shard("2/4") == (2, 4)
