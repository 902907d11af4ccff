"""Expectations of a fault scenario, each a separate check so a report says which part was not met.

survive                  every phase deploys, the live suite passes, retries were recorded when the
                         scenario injects errors, latency shows in durations, teardown leaves nothing
fail-cleanly             phases meant to fail end with the named error and create nothing; the
                         phase after them deploys; state stays intact; teardown leaves nothing
survive-or-fail-cleanly  either of the above (a storm may be outlasted or may end the deploy)
"""

from __future__ import annotations

THROTTLE_CATEGORY = "ThrottlingNotSurvived"


def _phase_lines(report):
    return "; ".join(f"{p['name']}: {p['outcome']}" + (f" ({p.get('error_class')}: {p.get('message', '')[:200]})"
                                                        if p["outcome"] != "ok" else "") for p in report["phases"])


def test_every_phase_ended_as_the_expectation_says(report, kind):
    phases = report["phases"]
    assert phases, "no deploy phase ran"
    if kind == "survive":
        failed = [p for p in phases if p["outcome"] != "ok"]
        assert not failed, f"expectation survive: deploy failed: {_phase_lines(report)}"
        return
    for phase in phases:
        expected = phase.get("expected_error")
        if expected:
            assert phase["outcome"] == "failed" and phase.get("error_class") == expected, (
                f"expectation {kind}: phase '{phase['name']}' should fail with {expected}: {_phase_lines(report)}")
    last = phases[-1]
    if kind == "fail-cleanly":
        assert last["outcome"] == "ok", (
            f"expectation fail-cleanly: the final phase did not deploy: {_phase_lines(report)}")
    else:  # survive-or-fail-cleanly
        assert last["outcome"] == "ok" or last.get("category") == THROTTLE_CATEGORY, (
            f"expectation {kind}: ended with neither success nor a throttling failure: {_phase_lines(report)}")


def test_failed_by_design_phases_created_nothing(report, kind):
    for phase in report["phases"]:
        if phase.get("expected_error") and phase["outcome"] == "failed":
            assert phase.get("resource_mutations", 0) == 0, (
                f"phase '{phase['name']}' made {phase['resource_mutations']} mutating calls before failing")


def test_live_suite_passed_when_deployed(report, deploy_ok):
    if not deploy_ok:
        return
    if report.get("live_skipped"):
        assert report["live_ok"] is None
        return
    assert report["live_ok"] is not False, "the live suite failed on the deployed cell"
    assert report["live_ok"] is True, "the live suite never ran on the deployed cell (the cell stopped before it)"


def test_no_error_the_scenario_does_not_expect(report, kind):
    """Failures by design end their phase and are no error of the cell; what is left is unexpected
    (a hook that could not inject its fault, a timeout, an interrupt, a failure outside the phases),
    except the throttling failure a survive-or-fail-cleanly storm may end with."""
    error = report.get("unexpected_error")
    if error is None:
        return
    throttled = (kind == "survive-or-fail-cleanly" and error.get("category") == THROTTLE_CATEGORY
                 and report["phases"] and report["phases"][-1].get("category") == THROTTLE_CATEGORY)
    assert throttled, (f"the cell ended with an error its scenario does not expect, at {error.get('step')}: "
                       f"{error.get('category')}: {error.get('message', '')[:300]}")


def test_retries_were_recorded(report, kind, deploy_ok):
    if not report["needs_retries"] or kind == "fail-cleanly":
        return
    faults = report["faults"].get("total", 0)
    retries = sum(report["counters"].get("retries", {}).values())
    assert faults > 0, ("the scenario injected no fault (rules never matched)" if not report["faults"].get("observed")
                        else "the cell's clients saw no injected fault (LocalStack's Chaos API counts none itself)")
    if deploy_ok or kind == "survive":
        assert retries > 0, f"{faults} faults injected but no retry recorded"


def test_latency_shows_in_durations(report):
    ms = report["min_latency_ms"]
    if not ms:
        return
    by_effect = report["faults"].get("by_effect", {})
    if not report["faults"].get("observed"):  # counted where it was injected; else the durations below show it
        assert by_effect.get("latency", 0) > 0, "no latency was injected"
    calls = report["live_calls"]
    assert calls and report["live_seconds"] is not None
    per_call = report["live_seconds"] / calls
    assert per_call >= ms / 1000, f"live suite: {per_call * 1000:.0f} ms per call, expected at least {ms} ms"


def test_state_stayed_intact(report):
    for phase in report["phases"]:
        state = phase.get("state")
        if not state:
            continue
        assert state.get("readable"), f"phase '{phase['name']}': state unreadable: {state.get('error')}"
        assert state.get("consistent", True), (
            f"phase '{phase['name']}': resources exist that the state does not name: {state.get('not_in_state')}")


def test_teardown_completed_without_leaks(report):
    if report["kept"]:
        return
    assert report["destroy_ok"] in (True, None), "destroy failed"
    assert report["leak_check_ok"] in (True, None), f"leak check failed: {report['leaks']}"
    assert not report["leaks"], f"leaked: {report['leaks']}"


def test_state_kept_locally_when_the_bucket_vanished(report):
    if "bucket_deleted" not in report["notes"]:
        return
    assert report["notes"].get("state_local"), "no local state copy was reported after the bucket vanished"


def test_terraform_agrees_on_a_missing_bucket(report):
    said = report["notes"].get("terraform")
    if said is None or said.startswith("terraform not on PATH"):
        return
    assert "NoSuchBucket" in said, f"terraform init said: {said}"
