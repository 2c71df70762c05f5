"""The release verbs through their CLI (`python -m infra.release`), against moto's server on
loopback: promote refuses an unknown or damaged run and pins a good one in cdk.json (which the
app then synthesizes); rollback moves the live alias back to the version of an earlier run."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from contract.bundle import read_manifest
from contract.storage import publish_bundle
from infra.release import main
from tests.infra.conftest import CDK_JSON
from tests.infra.test_infra_config import config


@pytest.fixture
def cdk_json(tmp_path: Path) -> Path:
    path = tmp_path / "cdk.json"
    shutil.copy(CDK_JSON, path)
    return path


@pytest.fixture
def published(s3: tuple[Any, str], tiny_bundle: Path) -> tuple[Any, str, str]:
    client, bucket = s3
    run_id = read_manifest(tiny_bundle).run_id
    publish_bundle(tiny_bundle, f"s3://{bucket}/models", run_id, update_latest=True, client=client)
    return client, bucket, run_id


def context_of(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())["context"]


def test_promote_pins_a_verified_run(published: Any, cdk_json: Path) -> None:
    _, bucket, run_id = published
    assert main(["--cdk-json", str(cdk_json), "promote", run_id, "--bucket", bucket]) == 0
    context = context_of(cdk_json)
    assert context["modelUri"] == f"models/{run_id}"
    assert context["trafficShift"] == "Canary10Percent5Minutes"
    assert context["@aws-cdk/core:checkSecretUsage"] is True  # the rest is kept
    assert config(**context).pinned_run == run_id  # and the app accepts it

    # A second promote keeps a shift the stack already chose.
    context["trafficShift"] = "Linear10PercentEvery1Minute"
    cdk_json.write_text(json.dumps({"context": context}))
    assert main(["--cdk-json", str(cdk_json), "promote", run_id, "--bucket", bucket]) == 0
    assert context_of(cdk_json)["trafficShift"] == "Linear10PercentEvery1Minute"


def test_promote_refuses_an_unknown_run(
    published: Any, cdk_json: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, bucket, _ = published
    before = cdk_json.read_text()
    assert main(["--cdk-json", str(cdk_json), "promote", "run-nope", "--bucket", bucket]) == 2
    assert "run run-nope refused" in caplog.text and "has no manifest.json" in caplog.text
    assert cdk_json.read_text() == before


def test_promote_refuses_a_damaged_run(
    published: Any, cdk_json: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client, bucket, run_id = published
    key = f"models/{run_id}/tokenizer.json"
    body = bytearray(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    body[-2] ^= 1  # same size, one bit off: only the sha256 can tell
    client.put_object(Bucket=bucket, Key=key, Body=bytes(body))
    before = cdk_json.read_text()
    assert main(["--cdk-json", str(cdk_json), "promote", run_id, "--bucket", bucket]) == 2
    assert f"run {run_id} refused" in caplog.text and "sha256" in caplog.text
    assert cdk_json.read_text() == before


def test_promote_refuses_a_bad_shift_and_a_missing_bucket(published: Any, cdk_json: Path) -> None:
    _, bucket, run_id = published
    args = ["--cdk-json", str(cdk_json), "--outputs", str(cdk_json.parent / "none.json")]
    assert main([*args, "promote", run_id, "--bucket", bucket, "--traffic-shift", "Fast"]) == 2
    assert main([*args, "promote", run_id]) == 2
    assert "trafficShift" not in context_of(cdk_json)


def _function_with_versions(runs: list[str], kind: str = "sentiment") -> tuple[Any, str]:
    """A function on moto's Lambda with one version per run, named as the stack names them."""
    import boto3

    iam = boto3.client("iam")
    role = iam.create_role(RoleName=f"r-{kind}-{id(runs)}", AssumeRolePolicyDocument="{}")
    client = boto3.client("lambda")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("h.py", "def handler(event, context):\n    return 1\n")
    name = f"{kind}-{id(runs)}"
    client.create_function(FunctionName=name, Runtime="python3.12", Role=role["Role"]["Arn"],
                           Handler="h.handler", Code={"ZipFile": code.getvalue()})  # fmt: skip
    for run in runs:
        client.update_function_configuration(
            FunctionName=name, Environment={"Variables": {"MODEL_URI": f"s3://b/models/{run}"}}
        )
        version = client.publish_version(FunctionName=name, Description=f"run {run}")["Version"]
    client.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    return client, name


def _live(client: Any, name: str) -> str:
    return client.get_alias(FunctionName=name, Name="live")["FunctionVersion"]


def test_rollback_moves_live_to_the_previous_run(s3: Any, cdk_json: Path) -> None:
    client, name = _function_with_versions(["run-a", "run-b", "run-c"])
    args = ["--cdk-json", str(cdk_json), "rollback", "--function-name", name, "--api-only"]
    assert main(args) == 0
    assert client.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "2"
    assert context_of(cdk_json)["modelUri"] == "models/run-b"  # the next deploy keeps it
    assert main(args) == 0
    assert client.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"
    assert context_of(cdk_json)["modelUri"] == "models/run-a"
    assert main([*args, "--to", "run-c"]) == 0
    assert client.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "3"
    assert context_of(cdk_json)["modelUri"] == "models/run-c"


def test_rollback_refuses_what_it_cannot_do(
    s3: Any, cdk_json: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, name = _function_with_versions(["run-a"])
    args = ["--cdk-json", str(cdk_json), "rollback", "--function-name", name, "--api-only"]
    assert main(args) == 2
    assert "no earlier version" in caplog.text
    assert main([*args, "--to", "run-z"]) == 2
    assert "no version of" in caplog.text and "['run-a']" in caplog.text
    missing = ["--cdk-json", str(cdk_json), "rollback", "--function-name", "missing"]
    assert main([*missing, "--api-only"]) == 2
    assert main(missing) == 2  # and say what bulk scoring does
    assert "--batch-function-name <BatchFunctionName output> moves it too" in caplog.text
    assert context_of(cdk_json)["modelUri"] == "models/latest.json"


# --- bulk scoring moves with the API ------------------------------------------------------------


def test_rollback_moves_bulk_scoring_to_the_same_run(s3: Any, cdk_json: Path) -> None:
    client, api = _function_with_versions(["run-a", "run-b", "run-c"])
    _, batch = _function_with_versions(["run-a", "run-b", "run-c"], kind="batch")
    args = ["--cdk-json", str(cdk_json), "rollback", "--function-name", api,
            "--batch-function-name", batch]  # fmt: skip
    assert main(args) == 0
    assert (_live(client, api), _live(client, batch)) == ("2", "2")
    assert main([*args, "--to", "run-c"]) == 0
    assert (_live(client, api), _live(client, batch)) == ("3", "3")


def test_rollback_moves_nothing_when_bulk_scoring_lacks_the_run(
    s3: Any, cdk_json: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client, api = _function_with_versions(["run-a", "run-b", "run-c"])
    _, batch = _function_with_versions(["run-c"], kind="batch")  # batch scoring came later
    args = ["--cdk-json", str(cdk_json), "rollback", "--function-name", api,
            "--batch-function-name", batch]  # fmt: skip
    assert main(args) == 2
    assert f"nothing moved: the batch function {batch} has no version of run run-b" in caplog.text
    assert (_live(client, api), _live(client, batch)) == ("3", "1")
    assert context_of(cdk_json)["modelUri"] == "models/latest.json"
    # --api-only says so: the API goes back, bulk scoring stays on run-c.
    assert (
        main(["--cdk-json", str(cdk_json), "rollback", "--function-name", api, "--api-only"]) == 0
    )
    assert (_live(client, api), _live(client, batch)) == ("2", "1")


def test_rollback_reads_both_functions_from_the_deployed_stack(
    s3: Any, cdk_json: Path, tmp_path: Path
) -> None:
    """With cdk.out/outputs.json gone (make clean), the names come from the deployed stack's
    outputs, and the file is written again."""
    import boto3

    client, api = _function_with_versions(["run-a", "run-b"])
    _, batch = _function_with_versions(["run-a", "run-b"], kind="batch")
    template = {
        "Resources": {"Stand": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"FunctionName": {"Value": api}, "BatchFunctionName": {"Value": batch}},
    }
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(StackName="SentimentApi", TemplateBody=json.dumps(template))
    outputs = tmp_path / "cdk.out" / "outputs.json"
    try:
        assert main(["--cdk-json", str(cdk_json), "--outputs", str(outputs), "rollback"]) == 0
    finally:
        cloudformation.delete_stack(StackName="SentimentApi")
    assert (_live(client, api), _live(client, batch)) == ("1", "1")
    written = json.loads(outputs.read_text())["SentimentApi"]
    assert written == {"FunctionName": api, "BatchFunctionName": batch}
