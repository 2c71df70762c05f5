"""The IAM actions docs/gpu-training.md asks of whoever runs `python -m training launch --wait`:
the list in the code (LAUNCH_ACTIONS, FOLLOW_ACTIONS) is the list in the docs, it names every
AWS call that launch and --wait make (read from their source), and those actions are enough:
launch --wait passes with exactly them against the loopback moto server with IAM enforced."""

from __future__ import annotations

import ast
import inspect
import re

import boto3
import botocore.session
import pytest
from botocore import xform_name

from contract import storage
from tests.aws_auth import iam_enforced, user_with
from tests.conftest import REPO
from tests.training.test_aws_errors import use_credentials
from tests.training.test_launch import launch as launch_cli
from tests.training.test_launch import training_jobs
from training.sagemaker import args as launch_args
from training.sagemaker import launch
from training.sagemaker import region as launch_region
from training.sagemaker import status as job_status
from training.sagemaker.launch import FOLLOW_ACTIONS, LAUNCH_ACTIONS

DOCUMENTED = set(LAUNCH_ACTIONS) | set(FOLLOW_ACTIONS)
# Checked by AWS on CreateTrainingJob itself: passing the role, and tagging the job.
IMPLIED = {"iam:PassRole", "sagemaker:AddTags"}
SERVICES = {"s3": "s3", "sagemaker": "sagemaker", "logs": "logs"}  # client name -> IAM prefix
# boto3's managed upload: PutObject, or multipart uploads, which s3:PutObject also allows.
INJECTED = {"upload_file": {"s3:PutObject"}}


def actions_by_method() -> dict[str, set[str]]:
    session = botocore.session.get_session()
    out: dict[str, set[str]] = {}
    for client, prefix in SERVICES.items():
        for operation in session.get_service_model(client).operation_names:
            out.setdefault(xform_name(operation), set()).add(f"{prefix}:{operation}")
    return out | INJECTED


def called_actions() -> dict[str, set[str]]:
    """{method called: its IAM actions} for every AWS call in launch, --wait and the write probe."""
    by_method = actions_by_method()
    sources = [inspect.getsource(m) for m in (launch, launch_args, job_status, launch_region)]
    sources.append(inspect.getsource(storage.check_writable))
    found: dict[str, set[str]] = {}
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            method = node.func.attr
            if method == "get_paginator" and isinstance(node.args[0], ast.Constant):
                method = node.args[0].value
            if method in by_method:
                found[method] = by_method[method]
    return found


def test_the_docs_list_the_actions_the_code_names():
    doc = (REPO / "docs" / "gpu-training.md").read_text()
    prerequisites = doc[
        doc.index("Prerequisites:") : doc.index("```bash", doc.index("Prerequisites:"))
    ]
    assert set(re.findall(r"`([a-z0-9]+:[A-Za-z]+)`", prerequisites)) == DOCUMENTED


def test_every_call_is_documented_and_every_documented_action_is_called():
    called = called_actions()
    # the calls this test must see, or it reads nothing
    assert {"get_bucket_location", "create_training_job", "get_log_events"} <= set(called)
    for method, actions in called.items():
        assert actions & DOCUMENTED, f"{method}() needs one of {actions}: not in the docs' list"
    used = set().union(*called.values())
    assert used >= DOCUMENTED - IMPLIED, "documented but never called"


def test_launch_and_wait_pass_with_exactly_the_documented_actions(
    s3, s3_server, monkeypatch, caplog
):
    _, bucket = s3
    use_credentials(monkeypatch, user_with(sorted(DOCUMENTED)))
    with iam_enforced(s3_server):
        code = launch_cli(bucket, "--job_name", "job-iam", "--wait", "--poll_seconds", "0.1")
    assert code == 0, caplog.text
    assert "training job job-iam completed" in caplog.text


@pytest.mark.parametrize("missing", [a for a in LAUNCH_ACTIONS if a not in IMPLIED])
def test_one_launch_action_fewer_fails_naming_it(s3, s3_server, monkeypatch, caplog, missing):
    _, bucket = s3
    before = training_jobs()
    use_credentials(monkeypatch, user_with(sorted(DOCUMENTED - {missing})))
    with iam_enforced(s3_server):
        code = launch_cli(bucket, "--job_name", f"job-no-{missing.split(':')[1].lower()}")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    assert code == 2
    assert missing in caplog.text and "Traceback" not in caplog.text
    assert training_jobs() == before


def test_without_the_logs_actions_wait_follows_the_status_and_says_why_no_logs(
    s3, s3_server, monkeypatch, caplog
):
    _, bucket = s3
    use_credentials(monkeypatch, user_with(sorted(DOCUMENTED - {"logs:DescribeLogStreams"})))
    with iam_enforced(s3_server):
        code = launch_cli(bucket, "--job_name", "job-no-logs", "--wait", "--poll_seconds", "0.1")
    assert code == 0
    assert "stopped reading the job's logs" in caplog.text
    assert "DescribeLogStreams" in caplog.text
