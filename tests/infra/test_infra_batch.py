"""Bulk scoring at synth level: a second function from the same image asset with the batch
handler, a Distributed Map state machine, and the rule that starts it for files in batch/in/."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

from infra.context import ConfigError
from infra.inference_function import FUNCTION_LOGICAL_ID
from tests.infra.test_infra_config import config


def _batch_function(synth: Any) -> dict[str, Any]:
    found = {
        k: v for k, v in synth.of_type("AWS::Lambda::Function").items() if k.startswith("Batch")
    }
    assert len(found) == 1, sorted(found)
    return next(iter(found.values()))["Properties"]


def _definition(synth: Any) -> dict[str, Any]:
    """The state machine's definition with its CloudFormation references as "<ref>"."""
    parts = synth.one("AWS::StepFunctions::StateMachine")["Properties"]["DefinitionString"]
    return json.loads("".join(p if isinstance(p, str) else "<ref>" for p in parts["Fn::Join"][1]))


def test_the_batch_function_is_the_same_image_with_another_cmd(default: Any, full: Any) -> None:
    for synth in (default, full):
        api = synth.resources[FUNCTION_LOGICAL_ID]["Properties"]
        batch = _batch_function(synth)
        assert batch["Code"]["ImageUri"] == api["Code"]["ImageUri"]  # one asset, one build
        assert batch["ImageConfig"] == {"Command": ["function.batch.handler.handler"]}
        assert "ImageConfig" not in api
        assert batch["Architectures"] == api["Architectures"]
        assert (
            batch["Environment"]["Variables"]["MODEL_URI"]
            == api["Environment"]["Variables"]["MODEL_URI"]
        )
        assert batch["Timeout"] == 900


def test_the_state_machine_plans_maps_and_summarizes(default: Any) -> None:
    definition = _definition(default)
    assert definition["StartAt"] == "Plan"
    states = definition["States"]
    assert (
        states["Plan"]["Next"] == "ScoreChunks" and states["Plan"]["Parameters"]["step"] == "plan"
    )
    assert states["Plan"]["Parameters"]["rows_per_chunk"] == 2000
    chunks = states["ScoreChunks"]
    assert chunks["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert chunks["ItemReader"]["ReaderConfig"] == {"InputType": "JSON"}
    assert chunks["ItemReader"]["Parameters"] == {
        "Bucket.$": "$.plan.bucket",
        "Key.$": "$.plan.items_key",
    }
    assert chunks["ToleratedFailurePercentage"] == 100
    score = chunks["ItemProcessor"]["States"]["Score"]
    assert score["Parameters"] == {"step": "score", "chunk.$": "$"}
    assert any("States.TaskFailed" in r["ErrorEquals"] for r in score["Retry"])
    # A throttled worker waits (other jobs or the API hold the concurrency), before any other
    # retrier could match it and give up after seconds.
    throttled = score["Retry"][0]
    assert throttled["ErrorEquals"] == ["Lambda.TooManyRequestsException"]
    assert throttled["MaxAttempts"] >= 10 and throttled["JitterStrategy"] == "FULL"
    assert all(
        "Lambda.TooManyRequestsException" not in r["ErrorEquals"] for r in score["Retry"][1:]
    )
    assert chunks["Next"] == "Summarize" and states["Summarize"]["Next"] == "AllChunksScored"
    assert states["Incomplete"]["Type"] == "Fail"


def test_batch_settings_follow_context(synth: Any) -> None:
    tuned = synth({"batchMemoryMb": 4096, "batchMaxConcurrency": "50", "batchRowsPerChunk": 500})
    assert _batch_function(tuned)["MemorySize"] == 4096
    states = _definition(tuned)["States"]
    assert states["ScoreChunks"]["MaxConcurrency"] == 50
    assert states["Plan"]["Parameters"]["rows_per_chunk"] == 500


def test_a_file_under_batch_in_starts_a_job(default: Any) -> None:
    bucket_id, bucket = next(iter(default.of_type("AWS::S3::Bucket").items()))
    assert bucket["Properties"]["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }
    default.template.resource_count_is("Custom::S3BucketNotifications", 0)
    rule_id = next(k for k in default.of_type("AWS::Events::Rule") if k.startswith("Batch"))
    rule = default.resources[rule_id]["Properties"]
    assert rule["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [{"Ref": bucket_id}]},
            "object": {"key": [{"prefix": "batch/in/"}]},
        },
    }
    machine_id = next(iter(default.of_type("AWS::StepFunctions::StateMachine")))
    assert rule["Targets"][0]["Arn"] == {"Ref": machine_id}


def test_the_batch_role_reads_inputs_writes_outputs_and_nothing_else(default: Any) -> None:
    policies = [
        p for k, p in default.of_type("AWS::IAM::Policy").items() if k.startswith("BatchRole")
    ]
    statements = policies[0]["Properties"]["PolicyDocument"]["Statement"]
    prefixes = set()
    for statement in statements:
        for resource in (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        ):
            if "Fn::Join" in resource:
                prefixes.add(resource["Fn::Join"][1][-1])
        if "s3:PutObject" in statement["Action"] or "s3:DeleteObject*" in statement["Action"]:
            assert statement["Resource"][1]["Fn::Join"][1][-1] == "/batch/out/*"
    assert prefixes == {"/models/*", "/batch/in/*", "/batch/out/*"}
    machine = [
        p
        for k, p in default.of_type("AWS::IAM::Policy").items()
        if k.startswith("BatchStateMachineRole")
    ]
    reads = [
        s
        for s in machine[0]["Properties"]["PolicyDocument"]["Statement"]
        if s["Action"] == "s3:GetObject"
    ]
    assert [s["Resource"]["Fn::Join"][1][-1] for s in reads] == ["/batch/out/*"]


def test_batch_scoring_can_be_left_out(synth: Any) -> None:
    off = synth({"batchScoring": "false"})
    off.template.resource_count_is("AWS::StepFunctions::StateMachine", 0)
    assert not [k for k in off.of_type("AWS::Events::Rule") if k.startswith("Batch")]
    assert len(off.of_type("AWS::Lambda::Function")) == 2  # the API's and the drift check's
    assert "BatchStateMachineArn" not in off.outputs


# --- a new account: AWS's Lambda quotas page says new accounts start with reduced quotas
# (commonly 10 concurrent executions and 3,008 MB of memory) ---------------------------------
NEW_ACCOUNT_CONCURRENCY = 10
NEW_ACCOUNT_MEMORY_MB = 3008


def test_the_defaults_fit_a_new_account_and_leave_the_api_most_of_it(default: Any) -> None:
    for function in default.of_type("AWS::Lambda::Function").values():
        assert function["Properties"]["MemorySize"] <= NEW_ACCOUNT_MEMORY_MB
        # A reservation fails the deploy on such an account (it must keep its minimum unreserved).
        assert "ReservedConcurrentExecutions" not in function["Properties"]
    per_file = _definition(default)["States"]["ScoreChunks"]["MaxConcurrency"]
    assert per_file <= NEW_ACCOUNT_CONCURRENCY // 4  # two files at once still leave the API 6
    note = Annotations.from_stack(default.stack).find_info(
        "*", Match.string_like_regexp(".*batchReservedConcurrency.*")
    )
    assert len(note) == 1, "synth must say how to cap batch scoring where the account allows"


def test_a_reserved_share_caps_every_batch_job_together(synth: Any) -> None:
    capped = synth({"batchReservedConcurrency": "20", "batchMaxConcurrency": 20})
    assert _batch_function(capped)["ReservedConcurrentExecutions"] == 20
    api = capped.resources[FUNCTION_LOGICAL_ID]["Properties"]
    assert "ReservedConcurrentExecutions" not in api  # the API keeps the unreserved pool
    notes = Annotations.from_stack(capped.stack).find_info(
        "*", Match.string_like_regexp(".*batchReservedConcurrency.*")
    )
    assert notes == []


def test_a_job_may_not_outrun_its_reserved_share() -> None:
    with pytest.raises(
        ConfigError,
        match=r"'batchMaxConcurrency' is 8: expected at most batchReservedConcurrency \(4\)",
    ):
        config(batchReservedConcurrency=4, batchMaxConcurrency=8)
    with pytest.raises(ConfigError, match="'batchReservedConcurrency' is 0"):
        config(batchReservedConcurrency=0)
