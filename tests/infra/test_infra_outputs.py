"""`python -m infra.outputs` (`make outputs`): cdk.out/outputs.json made again from the deployed
stack (CloudFormation's DescribeStacks on moto's server), in `cdk deploy --outputs-file`'s shape,
so it survives `make clean` and reaches another machine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from infra.outputs import main
from tests.infra.conftest import CDK_JSON


def test_outputs_are_written_from_the_deployed_stack(s3: Any, tmp_path: Path) -> None:
    import boto3

    _, bucket = s3
    cdk_json = tmp_path / "cdk.json"
    shutil.copy(CDK_JSON, cdk_json)
    template = {
        "Resources": {"Stand": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"ArtifactsBucketName": {"Value": bucket}, "AuthMode": {"Value": "none"}},
    }
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(StackName="SentimentApi", TemplateBody=json.dumps(template))
    target = tmp_path / "cdk.out" / "outputs.json"  # cdk.out itself gone, as after make clean
    try:
        assert main(["--cdk-json", str(cdk_json), "--file", str(target)]) == 0
    finally:
        cloudformation.delete_stack(StackName="SentimentApi")
    assert json.loads(target.read_text()) == {
        "SentimentApi": {"ArtifactsBucketName": bucket, "AuthMode": "none"}
    }


def test_no_deployed_stack_is_an_error_that_says_so(
    s3: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "outputs.json"
    assert main(["--cdk-json", str(CDK_JSON), "--file", str(target)]) == 2
    assert "stack SentimentApi is not deployed in this account and region" in caplog.text
    assert not target.exists()


def test_aws_region_picks_the_stack_as_the_aws_and_cdk_clis_do(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runbook exports AWS_REGION only; botocore alone would ignore it (it reads
    AWS_DEFAULT_REGION, us-east-1 here) and find no stack."""
    import boto3

    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    template = {"Resources": {"Stand": {"Type": "AWS::SNS::Topic"}},
                "Outputs": {"AuthMode": {"Value": "iam"}}}  # fmt: skip
    cloudformation = boto3.client("cloudformation", region_name="eu-west-1")
    cloudformation.create_stack(StackName="SentimentApi", TemplateBody=json.dumps(template))
    target = tmp_path / "outputs.json"
    try:
        assert main(["--cdk-json", str(CDK_JSON), "--file", str(target)]) == 0
    finally:
        cloudformation.delete_stack(StackName="SentimentApi")
    assert json.loads(target.read_text()) == {"SentimentApi": {"AuthMode": "iam"}}
