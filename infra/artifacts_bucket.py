"""The artifacts bucket: training publishes model bundles into it, the function reads them."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

# The wildcard actions bucket.grant_read_write puts in a role's policy, as cdk-nag's IAM5 rule
# names them: a role granted read-write suppresses these, each for its own resources.
READ_WRITE_GRANT_ACTIONS = (
    "Action::s3:GetObject*",
    "Action::s3:GetBucket*",
    "Action::s3:List*",
    "Action::s3:DeleteObject*",
    "Action::s3:Abort*",
)


class ArtifactsBucket(Construct):
    """Versioned, encrypted, private, TLS-only; kept when the stack is deleted."""

    def __init__(
        self, scope: Construct, construct_id: str, *, noncurrent_version_days: int
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            versioned=True,  # a bad publish of latest.json is undone by restoring the old version
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=RemovalPolicy.RETAIN,  # trained models outlive any one deployment
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireOldVersions",
                    noncurrent_version_expiration=Duration.days(noncurrent_version_days),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                    expired_object_delete_marker=True,
                )
            ],
        )
        NagSuppressions.add_resource_suppressions(
            self.bucket,
            [
                NagPackSuppression(
                    id="AwsSolutions-S1",
                    reason="Only two IAM roles touch this bucket (the training role writes, the "
                    "function reads a prefix); who did what is answered by CloudTrail. Server "
                    "access logs would need a second bucket that itself fails S1.",
                )
            ],
        )
