"""`python -m infra.empty_bucket` against moto's S3 server: it pages past S3's 1,000-a-call
limits (versions and delete markers together), leaves the bucket deletable, and refuses the
bucket of a stack that is still deployed."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from infra.empty_bucket import PAGE, main
from tests.infra.conftest import CDK_JSON


def _versions_and_markers(client: Any, bucket: str) -> int:
    found = 0
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        found += len(page.get("Versions", [])) + len(page.get("DeleteMarkers", []))
    return found


def test_more_than_a_page_of_versions_is_emptied_and_the_bucket_deleted(s3: Any) -> None:
    client, bucket = s3
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    # 501 objects, then one DeleteObjects call: 501 versions + 501 delete markers, one page over.
    keys = [f"batch/out/job/part-{i:05d}.jsonl" for i in range(PAGE // 2 + 1)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=key, Body=b""), keys))
    client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    client.put_object(Bucket=bucket, Key="models/latest.json", Body=b"{}")
    assert _versions_and_markers(client, bucket) == 2 * len(keys) + 1 > PAGE

    assert main([bucket, "--yes", "--delete-bucket", "--cdk-json", str(CDK_JSON)]) == 0
    assert bucket not in [b["Name"] for b in client.list_buckets()["Buckets"]]


def test_it_asks_before_deleting_anything(s3: Any, caplog: pytest.LogCaptureFixture) -> None:
    client, bucket = s3
    client.put_object(Bucket=bucket, Key="models/latest.json", Body=b"{}")
    assert main([bucket, "--cdk-json", str(CDK_JSON)]) == 2
    assert "pass --yes" in caplog.text
    assert _versions_and_markers(client, bucket) == 1


def test_the_bucket_of_a_deployed_stack_is_refused(
    s3: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import boto3

    client, bucket = s3
    client.put_object(Bucket=bucket, Key="models/latest.json", Body=b"{}")
    template = {
        "Resources": {"Stand": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"ArtifactsBucketName": {"Value": bucket}},
    }
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(StackName="SentimentApi", TemplateBody=json.dumps(template))
    try:
        assert main([bucket, "--yes", "--cdk-json", str(CDK_JSON)]) == 2
    finally:
        cloudformation.delete_stack(StackName="SentimentApi")
    assert "is the artifacts bucket of SentimentApi, which is still deployed" in caplog.text
    assert _versions_and_markers(client, bucket) == 1
