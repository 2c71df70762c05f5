"""What an AWS error means for whoever ran the command, and what to do about it.

boto3 reports a missing bucket, refused credentials, a denied request and an unreachable endpoint
as different exceptions and error codes; `explain` turns each into the one sentence that names the
fix (credentials, region, bucket, permission). Standard library only: it reads the classes' names
and the error code, so a cold start that never fails never imports botocore for it.
"""

from __future__ import annotations

from typing import Any

# What S3 answers for a key that is not there (a HEAD gets a bare 404), and for a bucket.
KEY_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
BUCKET_NOT_FOUND = frozenset({"404", "NoSuchBucket"})
NOT_FOUND = KEY_NOT_FOUND | BUCKET_NOT_FOUND


def aws_errors() -> tuple[type[BaseException], ...]:
    """What boto3 raises when AWS says no or cannot be reached (imported only when needed)."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError, Boto3Error)


# AWS error codes (ClientError.response["Error"]["Code"]) by what fixes them.
_CODES = {
    "bucket": {"NoSuchBucket"},
    "credentials": {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidToken",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "TokenRefreshRequired",
        "AuthFailure",
    },
    "permission": {
        "AccessDenied",
        "AccessDeniedException",
        "AllAccessDisabled",
        "UnauthorizedOperation",
    },
    "refused": {"403", "Forbidden"},
    "region": {
        "PermanentRedirect",
        "AuthorizationHeaderMalformed",
        "IllegalLocationConstraintException",
        "301",
    },
}
# botocore exception classes (matched by name, base classes included) by what fixes them.
_CLASSES = {
    "credentials": {
        "NoCredentialsError",
        "PartialCredentialsError",
        "CredentialRetrievalError",
        "TokenRetrievalError",
        "SSOTokenLoadError",
        "UnauthorizedSSOTokenError",
    },
    "region": {"NoRegionError"},
    # EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError; ReadTimeoutError,
    # ConnectionClosedError
    "network": {"ConnectionError", "HTTPClientError"},
}

_HINTS = {
    "bucket": "the bucket {bucket} does not exist in this account: check its name (the stack's "
    "is ArtifactsBucketName in cdk.out/outputs.json) and the account your credentials belong to",
    "refused": "AWS refused the request without saying why (HTTP 403, as S3 answers a HEAD): "
    "the credentials are not valid (check AWS_PROFILE / AWS_ACCESS_KEY_ID, `aws sts "
    "get-caller-identity`), or they lack {permissions}",
    "credentials": "AWS refused or found no credentials: set AWS_PROFILE (and run `aws sso "
    "login` if it uses SSO) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (with "
    "AWS_SESSION_TOKEN for temporary ones); `aws sts get-caller-identity` shows who you are",
    "permission": "these credentials are not allowed to: grant {permissions} to the user or role "
    "(`aws sts get-caller-identity` names it), or use credentials that have them",
    "region": "the region is wrong or missing: set AWS_REGION (or AWS_DEFAULT_REGION) to the "
    "region of {what}",
    "network": "AWS cannot be reached from this machine: check the network, a proxy, the VPC "
    "endpoint, and AWS_ENDPOINT_URL if it is set",
    "other": "check the credentials (AWS_PROFILE / AWS_ACCESS_KEY_ID), the region (AWS_REGION), "
    "and that they grant {permissions}",
}


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of `exc`, or of the error it was raised from (boto3's transfer manager
    wraps a failed upload's ClientError in S3UploadFailedError)."""
    for error in _chain(exc):
        response: Any = getattr(error, "response", None)
        if isinstance(response, dict):
            return response.get("Error", {}).get("Code") or None
    return None


def kind(exc: BaseException) -> str:
    """'bucket', 'credentials', 'permission', 'refused', 'region', 'network' or 'other'."""
    code = error_code(exc)
    for name, codes in _CODES.items():
        if code in codes:
            return name
    names = {cls.__name__ for error in _chain(exc) for cls in type(error).__mro__}
    for name, classes in _CLASSES.items():
        if names & classes:
            return name
    return "other"


def explain(
    exc: BaseException, *, permissions: str, bucket: str | None = None, what: str | None = None
) -> str:
    """The sentence that names the fix for `exc`. `permissions`: the IAM actions the failed step
    needs; `bucket`: the bucket it used, if any; `what`: what the region must be the one of."""
    return _HINTS[kind(exc)].format(
        bucket=bucket or "named", permissions=permissions, what=what or f"the bucket {bucket}"
    )


def missing_bucket(bucket: str) -> str:
    return _HINTS["bucket"].format(bucket=bucket)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    error: BaseException | None = exc
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or error.__context__
    return seen
