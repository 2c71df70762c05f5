"""The one stack: bucket, training role, function, API, alarms, and the outputs people need."""

from __future__ import annotations

from typing import Any

from aws_cdk import Annotations, Stack
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.alarms import ServiceAlarms
from infra.api_edge import CustomDomain, WebAcl
from infra.artifacts_bucket import ArtifactsBucket
from infra.batch_scoring import BatchScoring
from infra.canary_deployment import CanaryDeployment
from infra.config import API_INTEGRATION_TIMEOUT_S, ServiceConfig
from infra.inference_function import InferenceFunction, version_description
from infra.monitoring import add_monitoring
from infra.public_api import PublicApi
from infra.stack_outputs import add_outputs
from infra.training_role import TrainingRole


class SentimentStack(Stack):
    """Wires the constructs together; every setting comes from `config`."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: ServiceConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        storage = ArtifactsBucket(
            self,
            "Artifacts",
            noncurrent_version_days=config.noncurrent_version_days,
            job_files_days=config.job_files_days,
            batch_output_days=config.batch_output_days,
        )
        training = TrainingRole(self, "Training", bucket=storage.bucket)

        location = config.model_location
        model_bucket: s3.IBucket = (
            s3.Bucket.from_bucket_name(self, "ModelBucket", location.bucket)
            if location.bucket
            else storage.bucket
        )
        model_uri = location.uri(model_bucket.bucket_name)
        # A release stack serves one run per version through `live` aliases (canary, rollback).
        live_alias = config.traffic_shift != "off"
        description = version_description(config.pinned_run, config.model_location.key)
        service = InferenceFunction(
            self,
            "Inference",
            model_bucket=model_bucket,
            model_prefix=config.model_read_prefix,
            environment=config.function_environment(model_uri),
            memory_mb=config.memory_mb,
            timeout_seconds=config.timeout_seconds,
            architecture=config.architecture,
            reserved_concurrency=config.reserved_concurrency,
            provisioned_concurrency=config.provisioned_concurrency,
            log_retention=config.log_retention,
            live_alias=live_alias,
            version_description=description,
            tracing=config.tracing,
        )
        if config.timeout_seconds > API_INTEGRATION_TIMEOUT_S:
            Annotations.of(service).add_warning_v2(
                "sentiment:timeout",
                f"timeoutSeconds={config.timeout_seconds}: API Gateway answers 504 after "
                f"{API_INTEGRATION_TIMEOUT_S} s, so requests never see the extra time",
            )
        if config.api_cloudwatch_role:
            Annotations.of(self).add_warning_v2(
                "sentiment:apiCloudWatchRole",
                "this stack sets the region's API Gateway CloudWatch logging role (an account "
                "setting every API in the region logs through; kept on destroy). If your account "
                'manages that setting, set "apiCloudWatchRole": false in cdk.json',
            )
        api = PublicApi(
            self,
            "Public",
            handler=service.target,
            stage_name=config.stage_name,
            throttle_rate_limit=config.throttle_rate_limit,
            throttle_burst_limit=config.throttle_burst_limit,
            cors_origins=config.cors_origins,
            auth_mode=config.auth_mode,
            log_retention=config.log_retention,
            access_logs=config.api_access_logs,
            execution_logs=config.api_execution_logs,
            cloud_watch_role=config.api_cloudwatch_role,
            api_keys=config.api_keys,
            web_acl=config.web_acl != "off",
        )
        domain = None
        if config.domain_name and config.certificate_arn:
            domain = CustomDomain(
                self,
                "Domain",
                api=api.api,
                domain_name=config.domain_name,
                certificate_arn=config.certificate_arn,
                hosted_zone_id=config.hosted_zone_id,
            )
        web_acl = None
        if config.web_acl != "off":
            web_acl = WebAcl(
                self,
                "WebAcl",
                stage=api.api.deployment_stage,
                web_acl=config.web_acl,
                rate_limit=config.web_acl_rate_limit,
            )
        alarms = ServiceAlarms(
            self,
            "Alarms",
            stage=api.api.deployment_stage,
            function=service.function,
            server_error_rate_percent=config.alarm_5xx_rate_percent,
            p99_latency_ms=config.alarm_p99_latency_ms,
            throttles=config.alarm_throttles,
            errors=config.alarm_errors,
            log_group=service.log_group,
            confidence_floor=config.confidence_floor,
            low_confidence_percent=config.alarm_low_confidence_percent,
            notify=config.alarm_topic,
            email=config.alarm_email,
        )
        release: CanaryDeployment | None = None
        if live_alias:
            assert service.alias is not None  # live_alias=True made it
            release_alarms = [alarms.server_error_rate, alarms.latency, alarms.errors]
            if alarms.low_confidence_share is not None:
                release_alarms.append(alarms.low_confidence_share.alarm)
            release = CanaryDeployment(
                self,
                "Release",
                alias=service.alias,
                traffic_shift=config.traffic_shift,
                # Throttles say the account is short of concurrency, not that the version is bad.
                alarms=release_alarms,
                low_confidence=alarms.low_confidence_share,
            )
        add_monitoring(
            self,
            config=config,
            service=service,
            stage=api.api.deployment_stage,
            alarms=alarms,
            canary=release,
            model_bucket=model_bucket,
            model_uri=model_uri,
        )
        batch: BatchScoring | None = None
        if config.batch_scoring:
            batch = BatchScoring(
                self,
                "Batch",
                bucket=storage.bucket,
                model_bucket=model_bucket,
                model_prefix=config.model_read_prefix,
                environment=config.function_environment(model_uri),
                architecture=config.architecture,
                memory_mb=config.batch_memory_mb,
                max_concurrency=config.batch_max_concurrency,
                reserved_concurrency=config.batch_reserved_concurrency,
                rows_per_chunk=config.batch_rows_per_chunk,
                log_retention=config.log_retention,
                live_alias=live_alias,
                version_description=description,
            )
            if config.batch_reserved_concurrency is None:
                Annotations.of(batch).add_info(
                    "batch scoring shares the account's Lambda concurrency with the API: each "
                    f"file scores up to batchMaxConcurrency={config.batch_max_concurrency} chunks "
                    "at once, and files scored together add up. On an account whose concurrency "
                    'limit is above 100 + N, set "batchReservedConcurrency": N in cdk.json to '
                    "cap every job together at N (docs/deploy.md, New accounts)"
                )

        add_outputs(
            self,
            config=config,
            api=api,
            bucket=storage.bucket,
            model_uri=model_uri,
            service=service,
            training_role=training.role,
            alarms=alarms,
            release=release,
            batch=batch,
            domain=domain,
            web_acl=web_acl,
        )
