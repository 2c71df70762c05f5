"""The deploy entry point (`python -m infra.deploy`, `make deploy`) against CloudFormation on
moto's server: it reads the deployed stack's outputs and refuses a deploy that would change
authMode or the logging-role choice unless told so, before anything is built or written.

The deployed stacks here carry the outputs the real template declares for those settings
(taken from a synth), beside a stand-in resource: moto models DescribeStacks, not the stack.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.deploy import main
from infra.release import main as release_main
from tests.infra.conftest import CDK_JSON


@pytest.fixture
def cdk_json(tmp_path: Path) -> Path:
    path = tmp_path / "cdk.json"
    shutil.copy(CDK_JSON, path)
    return path


def set_context(path: Path, **values: Any) -> None:
    document = json.loads(path.read_text())
    document["context"].update(values)
    path.write_text(json.dumps(document, indent=2))


@pytest.fixture
def deployed(s3: Any) -> Iterator[Callable[..., str]]:
    """deployed(synth) creates stack SentimentApi on moto with the outputs that synthesized
    variant (tests/infra/conftest.py) declares for the guarded settings; returns its name."""
    import boto3

    from infra.config import GUARDED

    client = boto3.client("cloudformation")
    names: list[str] = []

    def _deploy(variant: Any, *, drop: tuple[str, ...] = ()) -> str:
        template = {
            "Resources": {"Stand": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {n: variant.outputs[n] for n in GUARDED.values() if n not in drop},
        }
        client.create_stack(StackName="SentimentApi", TemplateBody=json.dumps(template))
        names.append("SentimentApi")
        return "SentimentApi"

    yield _deploy
    for name in names:
        client.delete_stack(StackName=name)


def test_a_deploy_that_would_flip_auth_mode_is_refused(
    deployed: Any, full: Any, cdk_json: Path, caplog: pytest.LogCaptureFixture
) -> None:
    deployed(full)  # authMode apiKey; cdk.json says "none": the key would be deleted
    assert main(["--cdk-json", str(cdk_json), "--check"]) == 2
    assert "authMode would change from 'apiKey' (deployed) to 'none' (cdk.json)" in caplog.text
    assert "--allow-change authMode" in caplog.text
    caplog.clear()
    assert main(["--cdk-json", str(cdk_json), "--check", "--allow-change", "authMode"]) == 0
    assert "allowed: authMode would change" in caplog.text


def test_a_deploy_that_would_take_over_the_logging_role_is_refused(
    deployed: Any, no_api_logs: Any, cdk_json: Path, caplog: pytest.LogCaptureFixture
) -> None:
    deployed(no_api_logs)  # apiCloudWatchRole false
    assert main(["--cdk-json", str(cdk_json), "--check"]) == 2
    assert "apiCloudWatchRole would change from 'false' (deployed) to 'true'" in caplog.text
    set_context(cdk_json, apiCloudWatchRole=False)  # cdk.json says what was deployed
    assert main(["--cdk-json", str(cdk_json), "--check"]) == 0


def test_settings_as_deployed_and_a_first_deploy_go_ahead(
    s3: Any, deployed: Any, iam: Any, cdk_json: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="infra.deploy")
    assert main(["--cdk-json", str(cdk_json), "--check"]) == 0  # nothing deployed yet
    assert "not deployed yet: a first deploy" in caplog.text
    deployed(iam)  # authMode iam, apiCloudWatchRole false
    set_context(cdk_json, authMode="iam", apiCloudWatchRole=False)
    assert main(["--cdk-json", str(cdk_json), "--check"]) == 0


def test_a_stack_that_does_not_record_the_setting_is_refused(
    deployed: Any, default: Any, cdk_json: Path, caplog: pytest.LogCaptureFixture
) -> None:
    deployed(default, drop=("AuthMode",))  # deployed before the guard existed: cannot tell
    assert main(["--cdk-json", str(cdk_json), "--check"]) == 2
    assert "does not record authMode (output AuthMode)" in caplog.text


def test_promote_deploy_is_refused_before_cdk_json_changes(
    deployed: Any,
    full: Any,
    cdk_json: Path,
    tiny_bundle: Path,
    s3: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from contract.bundle import read_manifest
    from contract.storage import publish_bundle

    client, bucket = s3
    run_id = read_manifest(tiny_bundle).run_id
    publish_bundle(tiny_bundle, f"s3://{bucket}/models", run_id, update_latest=True, client=client)
    deployed(full)
    before = cdk_json.read_text()
    args = ["--cdk-json", str(cdk_json), "promote", run_id, "--bucket", bucket, "--deploy"]
    assert release_main(args) == 2
    assert "authMode would change from 'apiKey'" in caplog.text
    assert cdk_json.read_text() == before


def test_a_bad_cdk_json_is_refused_with_the_key(cdk_json: Path, caplog: pytest.LogCaptureFixture):
    set_context(cdk_json, authMode="apikey")
    assert main(["--cdk-json", str(cdk_json), "--check"]) == 2
    assert "'authMode' is 'apikey': expected one of none, apiKey, iam" in caplog.text
