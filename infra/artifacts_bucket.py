"""The artifacts bucket: training publishes model bundles into it, the function reads them."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from function.batch.layout import OUTPUT_PREFIX

# The wildcard actions bucket.grant_read_write puts in a role's policy, as cdk-nag's IAM5 rule
# names them: a role granted read-write suppresses these, each for its own resources.
READ_WRITE_GRANT_ACTIONS = (
    "Action::s3:GetObject*",
    "Action::s3:GetBucket*",
    "Action::s3:List*",
    "Action::s3:DeleteObject*",
    "Action::s3:Abort*",
)


# What `python -m training launch` writes besides the run (training/launch.py): the packaged
# code each job installs, and SageMaker's own job output. Neither is read after the job ends.
JOB_FILE_PREFIXES = ("code/", "training-jobs/")


class ArtifactsBucket(Construct):
    """Versioned, encrypted, private, TLS-only; kept when the stack is deleted. Published runs
    never expire; job files and bulk-scoring results do, after the days given (None: never)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        noncurrent_version_days: int,
        job_files_days: int | None,
        batch_output_days: int | None,
    ) -> None:
        super().__init__(scope, construct_id)
        # An expiry leaves a delete marker on this versioned bucket; ExpireOldVersions then
        # removes the replaced version noncurrent_version_days later.
        expiring = [(prefix, job_files_days) for prefix in JOB_FILE_PREFIXES]
        expiring.append((OUTPUT_PREFIX, batch_output_days))
        prefix_rules = [
            s3.LifecycleRule(
                id="Expire-" + prefix.strip("/").replace("/", "-"),
                prefix=prefix,
                expiration=Duration.days(days),
            )
            for prefix, days in expiring
            if days is not None
        ]
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
                ),
                *prefix_rules,
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
