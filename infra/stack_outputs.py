"""The stack's outputs: what a runbook, `python -m infra.release`, the training launcher and the
deploy guard read (`cdk deploy --outputs-file`, or `python -m infra.outputs` from the deployed
stack). Their names are the stack's interface: docs/deploy.md lists each one.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from infra.alarms import ServiceAlarms
from infra.api_edge import CustomDomain, WebAcl
from infra.batch_scoring import BatchScoring
from infra.canary_deployment import CanaryDeployment
from infra.config import GUARDED, ServiceConfig
from infra.inference_function import InferenceFunction
from infra.public_api import PublicApi


def add_outputs(
    stack: Stack,
    *,
    config: ServiceConfig,
    api: PublicApi,
    bucket: s3.IBucket,
    model_uri: str,
    service: InferenceFunction,
    training_role: iam.IRole,
    alarms: ServiceAlarms,
    release: CanaryDeployment | None,
    batch: BatchScoring | None,
    domain: CustomDomain | None,
    web_acl: WebAcl | None,
) -> None:
    def out(name: str, value: str, description: str | None = None) -> None:
        CfnOutput(stack, name, value=value, description=description)

    out("ApiUrl", api.api.url, "Base URL of the API stage")
    out("ArtifactsBucketName", bucket.bucket_name,
        "Training publishes bundles to s3://<this>/" + config.model_read_prefix)  # fmt: skip
    out("FunctionName", service.function.function_name)
    out("ModelUri", model_uri, "MODEL_URI, the bundle served: cdk.json's modelUri (docs/deploy.md)")
    out("TrainingRoleArn", training_role.role_arn, "The role SageMaker training jobs run as")
    # The settings a deploy may not change unknowingly (python -m infra.deploy reads these).
    for key, value in config.guarded_values().items():
        out(GUARDED[key], value, f"cdk.json's {key} when this stack was deployed")
    # `aws logs tail <group> --follow` for each (docs/deploy.md, Logs).
    out("FunctionLogGroup", service.log_group.log_group_name)
    if api.access_logs is not None:
        out("AccessLogGroup", api.access_logs.log_group_name)
    if api.execution_logs is not None:
        out("ExecutionLogGroup", api.execution_logs.log_group_name)
    if api.api_key is not None:
        out("ApiKeyId", api.api_key.key_id,
            "The newest key: aws apigateway get-api-key --include-value --api-key <this>")  # fmt: skip
    if alarms.topic is not None:
        out("AlarmTopicArn", alarms.topic.topic_arn)
    if release is not None:
        out("DeploymentApplication", release.group.application.application_name)
        out("DeploymentGroupName", release.group.deployment_group_name,
            "aws deploy list-deployments --application-name <DeploymentApplication> "
            "--deployment-group-name <this>")  # fmt: skip
    if batch is not None:
        out("BatchStateMachineArn", batch.state_machine.state_machine_arn,
            "Scores each file put under s3://<ArtifactsBucketName>/batch/in/")  # fmt: skip
        out("BatchFunctionName", batch.function.function_name)
        out("BatchLogGroup", batch.log_group.log_group_name)
        out("BatchExecutionLogGroup", batch.execution_logs.log_group_name)
    if domain is not None:
        out("CustomDomainUrl", f"https://{config.domain_name}/")
        out("CustomDomainTarget", domain.target,
            "Point the custom domain's DNS here (CNAME or alias) if hostedZoneId is not set")  # fmt: skip
    if web_acl is not None:
        out("WebAclArn", web_acl.web_acl_arn)
