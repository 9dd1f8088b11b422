"""The GitOps loop end to end, on this machine: the workflows' own `run:` lines against a
bare git `origin` and a real S3 server on 127.0.0.1 (moto, IAM checks on, the README's
minimal policy). The loop runs once (module fixture, `tests.e2e.harness.loop.run_loop`);
each test checks one thing it must have shown."""

from __future__ import annotations

import pytest
from tests.e2e.harness.loop import run_loop

# ~5 min on a quiet 2-core machine; the bound is for a busy one
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    seen = run_loop(tmp_path_factory.mktemp("loop"), echo=lambda line: None)
    return seen


def test_retrain_opens_a_pr_on_a_dated_branch(loop):
    step1 = loop["step1"]
    assert step1["advance"] == {"new_data": "true"}
    assert step1["info"]["branch"] == "retrain/2011-12-17"
    assert step1["info"]["as_of"] == "2011-12-17T23:00:00-05:00"
    assert step1["pr"]["pull-request-operation"] == "created"
    assert step1["compare"] == {"gate_pass": "true"}
    assert step1["info"]["model_version"] != loop["v0"]
    first = loop["prs"][0]
    assert first["branch"] == "retrain/2011-12-17" and first["state"] == "merged"
    assert "retrain/2011-12-17" in first["title"] or "2011-12-17" in first["title"]
    assert first["body"].strip(), "the PR body is the report"


def test_pr_report_on_the_retrain_pr_pulls_everything_and_reruns_nothing(loop):
    assert loop["review"]["ran"][-2:] == ["Pull data and models", "Reproduce the pipeline"]
    # everything the PR's dvc.lock names came from S3: dvc repro had nothing to rerun
    assert "Running stage" not in loop["review_repro"], loop["review_repro"][-2000:]


def test_fresh_clone_pulls_exactly_the_merged_model_and_serves_it(loop):
    merged_version = loop["step1"]["info"]["model_version"]
    fresh = loop["fresh_clone"]
    assert loop["released"] == merged_version
    assert fresh["md5"] == fresh["locked_md5"], "the pulled model is not the one dvc.lock names"
    assert fresh["sha256"] == fresh["card"]["sha256"]
    assert fresh["card"]["version"] == merged_version
    step, code, output = loop["smoke"]
    assert (step, code) == ("Smoke-test GET /model", 0)
    assert f"serves model {merged_version}" in output


def test_degraded_live_error_makes_monitor_dispatch_the_retrain(loop):
    assert loop["traffic"]["statuses"] == [200] * 7
    monitor = loop["monitor"]
    assert monitor["outputs"]["monitor"] == {"retrain_recommended": "true"}
    summary = monitor["summary"]
    # the served model's week, every hour known to the replay by week 2's run
    assert summary["errors"]["scored"] == loop["traffic"]["forecasts"] == 168
    assert summary["errors"]["pending"] == 0 and summary["out_of_range"]["share"] == 0
    assert summary["reasons"][0].startswith(f"live RMSLE of {loop['released']} is ")
    assert "> monitor.max_rmsle_ratio 1.5" in summary["reasons"][0]
    assert summary["drift"] is not None  # the live hours vs the training data, as the stage
    assert monitor["dispatches"] == [
        {
            "path": "/repos/owner/bikecast/actions/workflows/retrain.yml/dispatches",
            "body": {"ref": "main"},
            "auth": "Bearer local-token",  # the job's own GITHUB_TOKEN
            "version": "2022-11-28",
        }
    ]
    assert monitor["step_summary"].startswith("## bikecast monitor: Retrain recommended")
    assert {"monitor.json", "monitor.md", "monitor_drift.html"} <= set(monitor["artifacts"])


def test_a_failed_gate_opens_the_pr_fails_the_run_and_leaves_main_alone(loop):
    failed = loop["failed_gate"]
    outputs = failed["outputs"]
    assert outputs["advance"] == {"new_data": "true"}
    assert outputs["info"]["branch"] == "retrain/2011-12-24"
    assert outputs["compare"] == {"gate_pass": "false"}
    assert outputs["pr"]["pull-request-operation"] == "created"  # the report, for review
    assert failed["failure"]["step"] == "Fail the run when the gate fails"
    assert failed["failure"]["code"] != 0 and "Gate failed" in failed["failure"]["output"]
    assert failed["main_as_of"] == "2011-12-17T23:00:00-05:00"  # not merged
    pr = next(pr for pr in loop["prs"] if pr["branch"] == "retrain/2011-12-24")
    assert pr["state"] == "open"


def test_after_a_failed_gate_the_next_retrain_moves_on_passes_and_is_merged(loop):
    """From main's week-1 window straight to week 3's: the unmerged week 2 is not rebuilt
    (the same window would build the same model and fail again, every week)."""
    step2 = loop["step2"]
    assert step2["info"]["branch"] == "retrain/2011-12-31"
    assert (
        "old window: 2011-01-01T00:00:00-05:00 .. 2011-12-17T23:00:00-05:00"
        in (loop["step2_advance"])
    )
    assert (
        "new window: 2011-01-01T00:00:00-05:00 .. 2011-12-31T23:00:00-05:00 (+336 h)"
        in (loop["step2_advance"])
    )
    assert step2["compare"] == {"gate_pass": "true"}
    assert step2["pr"]["pull-request-operation"] == "created"
    assert step2["info"]["model_version"] not in (loop["v0"], loop["released"])
    assert step2["info"]["model_version"] != loop["failed_gate"]["outputs"]["info"]["model_version"]
    pr = next(pr for pr in loop["prs"] if pr["branch"] == "retrain/2011-12-31")
    assert pr["state"] == "merged"


def test_no_new_data_opens_nothing(loop):
    step3 = loop["step3"]
    assert step3["outputs"]["advance"] == {"new_data": "false"}
    assert "Reproduce the pipeline" in step3["skipped"]
    assert "Open or update the PR" in step3["skipped"]
    assert "Push artifacts to the DVC remote" in step3["skipped"]
    assert loop["step3_new_branches"] == []
    assert [(pr["branch"], pr["state"]) for pr in loop["prs"]] == [
        ("retrain/2011-12-17", "merged"),
        ("retrain/2011-12-24", "open"),  # the failed gate's, left for people to close
        ("retrain/2011-12-31", "merged"),
    ]


def test_killed_retrain_leaves_nothing_behind_and_a_rerun_completes(loop):
    faults = loop["faults"]
    assert faults["first_still_running"], "the repro finished before it could be killed"
    after = faults["after_kill"]
    assert after["new_branches"] == [] and after["new_keys"] == []
    assert faults["outputs"]["pr"]["pull-request-operation"] == "created"


def test_a_second_repro_at_the_same_time_fails_on_the_lock(loop):
    second = loop["faults"]["second_repro"]
    assert second["code"] != 0
    # DVC's per-output lock names the other process; its repo lock says so too
    out = second["output"]
    assert "is being blocked by" in out or "Unable to acquire lock" in out, out[-2000:]


def test_s3_down_during_push_fails_before_any_pr_and_a_rerun_recovers(loop):
    faults = loop["faults"]
    failure = faults["push_failure"]
    assert failure["step"] == "Push artifacts to the DVC remote" and failure["code"] != 0
    assert "127.0.0.1" in failure["output"] or "connect" in failure["output"].lower()
    assert faults["after_push_failure"] == {"new_branches": [], "new_prs": 0}
    assert faults["outputs"]["info"]["branch"] == "retrain/2011-12-31"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("wrong_secret", "SignatureDoesNotMatch"),
        ("unknown_key", "InvalidAccessKeyId"),
        ("no_credentials", "no AWS credentials found"),
    ],
)
def test_bad_credentials_fail_with_a_clear_message(loop, case, message):
    result = loop["credentials"][case]
    assert result["code"] != 0
    assert message.lower() in result["output"].lower(), result["output"][-2000:]
