"""Bulk scoring: a file dropped under batch/in/ of the artifacts bucket starts a Step Functions
execution that plans it into chunks, scores them with a Distributed Map over a second function
built from the serving image (another CMD), and writes a summary (function/batch/).

Why EventBridge -> Step Functions rather than S3 -> SQS -> Lambda: the job has a start (plan),
a fan-out and an end (the summary needs every chunk done). A queue fans out as well, but knowing
when the last chunk of a file is done would need a counter we would build and keep (DynamoDB);
the Map state has it, with per-chunk retries, a concurrency cap and a visible execution per file.
EventBridge rather than an S3 notification: it is a native bucket property (no custom resource)
and it starts the state machine directly, with retries, no function in between.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from function.batch.layout import INPUT_PREFIX, OUTPUT_PREFIX
from infra.artifacts_bucket import READ_WRITE_GRANT_ACTIONS
from infra.inference_function import (
    LIVE_ALIAS,
    grant_model_read,
    image_code,
    lambda_architecture,
    retained_versions,
)

BATCH_HANDLER = "function.batch.handler.handler"
# Lambda's ceiling: the plan step streams the whole file once (a GB reads in about a minute).
BATCH_TIMEOUT = Duration.minutes(15)
# Transient Lambda faults, and our own errors (an S3 read timing out) once more.
RETRYABLE = ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
             "States.Timeout"]  # fmt: skip
# Throttled: the account (or batchReservedConcurrency) is busy with other jobs or the API. Waited
# out with jittered backoff for up to ~40 minutes instead of failing the chunk within seconds.
THROTTLED = "Lambda.TooManyRequestsException"


class BatchScoring(Construct):
    """The batch function, its state machine and the rule that starts it per input file.
    `bucket` holds the jobs (the artifacts bucket); the model is read as the API reads it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.Bucket,
        model_bucket: s3.IBucket,
        model_prefix: str,
        environment: dict[str, str],
        architecture: str,
        memory_mb: int,
        max_concurrency: int,
        reserved_concurrency: int | None,
        rows_per_chunk: int,
        log_retention: logs.RetentionDays,
        live_alias: bool = False,
        version_description: str | None = None,
    ) -> None:
        """`live_alias`: the state machine runs the `live` alias, moved with the API's on each
        deploy and by `infra.release rollback`, and every version (described by
        `version_description`, the run it serves) is kept, as the API function's are."""
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Batch scoring: reads batch/in/ and the model prefix, writes batch/out/",
        )
        self.function = lambda_.DockerImageFunction(
            self,
            "Function",
            code=image_code(architecture, cmd=[BATCH_HANDLER]),
            description="Sentiment batch scoring: plan, score and summarize steps of a job",
            architecture=lambda_architecture(architecture),
            memory_size=memory_mb,
            timeout=BATCH_TIMEOUT,
            reserved_concurrent_executions=reserved_concurrency,
            environment=environment,
            role=self.role,
            log_group=self.log_group,
            current_version_options=retained_versions(version_description),
        )
        # What the state machine invokes: the `live` alias on a release stack, so a rollback
        # moves bulk scoring to the same run as the API.
        self.alias: lambda_.Alias | None = None
        self.target: lambda_.IFunction = self.function
        if live_alias:
            self.alias = lambda_.Alias(
                self, "LiveAlias", alias_name=LIVE_ALIAS, version=self.function.current_version
            )
            self.target = self.alias
        self.log_group.grant_write(self.role)
        grant_model_read(self.role, model_bucket, model_prefix)
        bucket.grant_read(self.role, f"{INPUT_PREFIX}*")
        bucket.grant_read_write(self.role, f"{OUTPUT_PREFIX}*")
        # The summary lists a job's parts to remove stale ones (ListBucket is per bucket).
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ListJobOutputs",
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{OUTPUT_PREFIX}*"]}},
            )
        )
        self.state_machine = self._state_machine(
            bucket, max_concurrency, rows_per_chunk, log_retention
        )
        self._trigger(bucket)
        self._suppress(model_prefix)

    def _invoke(self, name: str, payload: dict, result_path: str) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self,
            name,
            lambda_function=self.target,
            payload=sfn.TaskInput.from_object(payload),
            payload_response_only=True,
            result_path=result_path,
            retry_on_service_exceptions=False,  # RETRYABLE below, with our own backoff
        )
        task.add_retry(errors=[THROTTLED], interval=Duration.seconds(10), max_attempts=12,
                       backoff_rate=2, max_delay=Duration.minutes(5),
                       jitter_strategy=sfn.JitterType.FULL)  # fmt: skip
        task.add_retry(errors=RETRYABLE, interval=Duration.seconds(2), max_attempts=3,
                       backoff_rate=2)  # fmt: skip
        return task

    def _state_machine(
        self, bucket: s3.IBucket, max_concurrency: int, rows_per_chunk: int,
        log_retention: logs.RetentionDays,
    ) -> sfn.StateMachine:  # fmt: skip
        plan = self._invoke(
            "Plan",
            {"step": "plan", "input.$": "$", "rows_per_chunk": rows_per_chunk},
            result_path="$.plan",
        )
        score = self._invoke(
            "Score", {"step": "score", "chunk.$": "$"}, result_path=sfn.JsonPath.DISCARD
        )
        # A worker's own failure (an S3 read that timed out, a model that did not load) once more.
        score.add_retry(errors=["States.TaskFailed"], interval=Duration.seconds(5), max_attempts=1)
        chunks = sfn.DistributedMap(
            self,
            "ScoreChunks",
            # By path, not `bucket=`: that would let the state machine read the whole bucket;
            # it reads the plans under batch/out/ (granted below) and nothing else.
            item_reader=sfn.S3JsonItemReader(
                bucket_name_path=sfn.JsonPath.string_at("$.plan.bucket"),
                key=sfn.JsonPath.string_at("$.plan.items_key"),
            ),
            max_concurrency=max_concurrency,
            # A chunk that still fails after its retries is reported by the summary (its rows,
            # unscored), never the end of the job.
            tolerated_failure_percentage=100,
            result_path=sfn.JsonPath.DISCARD,
        )
        chunks.item_processor(score)
        summarize = self._invoke(
            "Summarize", {"step": "summarize", "plan.$": "$.plan"}, result_path="$.summary"
        )
        done = sfn.Choice(self, "AllChunksScored")
        done.when(
            sfn.Condition.string_equals("$.summary.status", "succeeded"),
            sfn.Succeed(self, "Scored"),
        )
        done.otherwise(
            sfn.Fail(self, "Incomplete", error="ChunksFailed",
                     cause="Some chunks failed after retries: see the job's _summary.json")
        )  # fmt: skip
        self.execution_logs = execution_logs = logs.LogGroup(
            self, "ExecutionLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(
                plan.next(chunks).next(summarize).next(done)
            ),
            comment="Scores a review file under batch/in/ into batch/out/<job>/",
            timeout=Duration.hours(24),
            tracing_enabled=True,
            # States carry bucket, keys and counts, never review text, so the data may be logged.
            logs=sfn.LogOptions(
                destination=execution_logs, level=sfn.LogLevel.ALL, include_execution_data=True
            ),
        )
        machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadJobPlans",
                actions=["s3:GetObject"],
                resources=[bucket.arn_for_objects(f"{OUTPUT_PREFIX}*")],
            )
        )
        return machine

    def _trigger(self, bucket: s3.Bucket) -> None:
        # S3 -> EventBridge as the bucket's own CloudFormation property; CDK's
        # event_bridge_enabled would add a custom-resource function to set it.
        cfn_bucket: s3.CfnBucket = bucket.node.default_child
        cfn_bucket.add_property_override(
            "NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True
        )
        self.rule = events.Rule(
            self,
            "OnInputFile",
            description=f"Starts batch scoring for each object created under {INPUT_PREFIX}",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [bucket.bucket_name]},
                    "object": {"key": [{"prefix": INPUT_PREFIX}]},
                },
            ),
            targets=[targets.SfnStateMachine(self.state_machine, retry_attempts=10)],
        )

    def _suppress(self, model_prefix: str) -> None:
        NagSuppressions.add_resource_suppressions(
            self.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="Input files, job outputs and model runs are named at run time; the "
                    "role reads batch/in/*, writes batch/out/* and reads the model prefix, and "
                    "nothing else in the bucket.",
                    applies_to=[
                        *READ_WRITE_GRANT_ACTIONS,
                        {
                            "regex": f"/^Resource::.*/({INPUT_PREFIX}|{OUTPUT_PREFIX}|{model_prefix}/)\\*$/"
                        },
                    ],
                )
            ],
            apply_to_children=True,
        )
        NagSuppressions.add_resource_suppressions(
            self.state_machine,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="Step Functions invokes the batch function's versions (<arn>:*) for "
                    "retries, reads each job's plan under batch/out/, and a Distributed Map "
                    "starts and stops its own child executions, named at run time.",
                )
            ],
            apply_to_children=True,
        )
