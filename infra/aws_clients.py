"""boto3 clients for the infra commands, in the region the AWS CLI v2 and the CDK CLI use.

Those read AWS_REGION first; botocore reads only AWS_DEFAULT_REGION and the profile, so with
just `export AWS_REGION=...` (docs/deploy.md) a plain boto3 client would have no region, or
another one than the stack `make deploy` just deployed.
"""

from __future__ import annotations

import os
from typing import Any


def client(service: str) -> Any:
    import boto3

    return boto3.client(service, region_name=os.environ.get("AWS_REGION") or None)
