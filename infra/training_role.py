"""The role a SageMaker training job assumes to read data from and publish bundles to the bucket."""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.artifacts_bucket import READ_WRITE_GRANT_ACTIONS


class TrainingRole(Construct):
    """Read/write on the artifacts bucket, its own job logs and metrics, and image pulls."""

    def __init__(self, scope: Construct, construct_id: str, *, bucket: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            description="SageMaker training jobs: read/write the sentiment artifacts bucket",
            # Only SageMaker jobs of this account may assume it (confused-deputy protection).
            assumed_by=iam.ServicePrincipal(
                "sagemaker.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            ),
        )
        bucket.grant_read_write(self.role)
        job_logs = (
            f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}"
            ":log-group:/aws/sagemaker/TrainingJobs*"
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="TrainingJobLogs",
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                resources=[job_logs],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="TrainingJobMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],  # PutMetricData has no resource type; the condition scopes it
                conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="PullTrainingImages",
                actions=[
                    "ecr:GetAuthorizationToken",
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchGetImage",
                ],
                resources=["*"],
            )
        )
        NagSuppressions.add_resource_suppressions(
            self.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="The job reads inputs and publishes <prefix>/<run-id>/<file> bundles "
                    "and latest.json anywhere in the artifacts bucket, whose only purpose is this; "
                    "object keys are created at run time.",
                    applies_to=[
                        *READ_WRITE_GRANT_ACTIONS,
                        {"regex": "/^Resource::<.*Bucket[0-9A-F]+\\.Arn>/\\*$/"},
                    ],
                ),
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="SageMaker names each job's log group and streams at run time under "
                    "/aws/sagemaker/TrainingJobs; PutMetricData has no resource type (the "
                    "namespace condition limits it); images come from AWS's deep-learning "
                    "container registries in other accounts, and GetAuthorizationToken has no "
                    "resource type.",
                    applies_to=[
                        {"regex": "/^Resource::arn:<AWS::Partition>:logs:.*TrainingJobs\\*$/"},
                        "Resource::*",
                    ],
                ),
            ],
            apply_to_children=True,
        )
