"""The role GitHub Actions deploys with: a small stack of its own, deployed once by a person with
administrator credentials (`make deploy-role`), so the pipeline needs no long-lived keys.

The workflow's job (.github/workflows/deploy.yml) gets a short-lived OIDC token from GitHub and
exchanges it for this role's credentials. Only jobs of one repository running in one GitHub
environment may (the token's `sub` claim), and the environment's required reviewers are the
approval. The role itself may do two things: assume the CDK bootstrap roles (the CLI deploys,
publishes assets and looks up through them), and read the service stack's description (the
settings guard in `python -m infra.deploy`).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnOutput, DefaultStackSynthesizer, Duration, Stack
from aws_cdk import aws_iam as iam
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

GITHUB_OIDC_URL = "https://token.actions.githubusercontent.com"
GITHUB_AUDIENCE = "sts.amazonaws.com"
_CLAIM = "token.actions.githubusercontent.com"


def deploy_role_stack_name(service_stack: str) -> str:
    return f"{service_stack}-GitHubDeploy"


class GitHubDeployRoleStack(Stack):
    """An IAM role that `repository`'s jobs in GitHub environment `environment` may assume,
    allowed to deploy `service_stack` through the CDK bootstrap roles of `qualifier`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        repository: str,
        environment: str,
        service_stack: str,
        provider_arn: str | None,
        qualifier: str | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        if provider_arn is None:
            provider = iam.OidcProviderNative(
                self, "GitHubOidc", url=GITHUB_OIDC_URL, client_ids=[GITHUB_AUDIENCE]
            )
            provider_arn = provider.oidc_provider_arn
        subject = f"repo:{repository}:environment:{environment}"
        self.role = iam.Role(
            self,
            "Role",
            description=f"GitHub Actions ({subject}) deploys {service_stack} through CDK",
            assumed_by=iam.WebIdentityPrincipal(
                provider_arn,
                conditions={
                    "StringEquals": {f"{_CLAIM}:aud": GITHUB_AUDIENCE, f"{_CLAIM}:sub": subject}
                },
            ),
            max_session_duration=Duration.hours(1),
        )
        qualifier = qualifier or DefaultStackSynthesizer.DEFAULT_QUALIFIER
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="AssumeCdkBootstrapRoles",
                actions=["sts:AssumeRole", "sts:TagSession"],
                # deploy-role, file-publishing-role, image-publishing-role, lookup-role
                resources=[
                    f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/"
                    f"cdk-{qualifier}-*-{Aws.ACCOUNT_ID}-{Aws.REGION}"
                ],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadServiceStack",
                actions=["cloudformation:DescribeStacks"],
                resources=[
                    f"arn:{Aws.PARTITION}:cloudformation:{Aws.REGION}:{Aws.ACCOUNT_ID}:"
                    f"stack/{service_stack}/*"
                ],
            )
        )
        CfnOutput(
            self,
            "DeployRoleArn",
            value=self.role.role_arn,
            description="The GitHub repository variable AWS_DEPLOY_ROLE_ARN (docs/deploy.md)",
        )
        NagSuppressions.add_resource_suppressions(
            self.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="The CDK CLI deploys through the four bootstrap roles of this account "
                    "and region (deploy, file and image publishing, lookup), named "
                    "cdk-<qualifier>-<purpose>-<account>-<region>; the stack's ARN ends in an id "
                    "CloudFormation assigns.",
                    applies_to=[
                        {
                            "regex": "/^Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/cdk-.*$/"
                        },
                        {"regex": "/^Resource::arn:<AWS::Partition>:cloudformation:.*/\\*$/"},
                    ],
                )
            ],
            apply_to_children=True,
        )
