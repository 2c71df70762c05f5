"""IAM on the loopback moto server: a user with only the permissions a test names, and a switch
that makes the server check every request's signature and policy as AWS does (moto's
`/moto-api/reset-auth`; it is off otherwise, so any key may do anything)."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager


def user_with(actions: list[str]) -> dict[str, str]:
    """A new IAM user allowed `actions` on every resource; returns boto3 credential kwargs."""
    import boto3

    iam = boto3.client("iam")
    name = f"test-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
    }
    iam.put_user_policy(UserName=name, PolicyName="only", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {
        "aws_access_key_id": key["AccessKeyId"],
        "aws_secret_access_key": key["SecretAccessKey"],
    }


def _reset_auth(endpoint: str, count: str) -> str:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=count.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},  # not a form: the server reads the raw body
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]


@contextmanager
def iam_enforced(endpoint: str) -> Iterator[None]:
    """While inside, the server refuses unknown keys and actions a user's policy lacks."""
    previous = _reset_auth(endpoint, "0")
    try:
        yield
    finally:
        _reset_auth(endpoint, previous)
