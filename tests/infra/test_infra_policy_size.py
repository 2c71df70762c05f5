"""The functions' resource-based policies fit Lambda's quota, at the longest names AWS allows.

API Gateway may call a function through the statements CloudFormation adds to that function's
resource-based policy: CDK's LambdaIntegration adds two per method (the stage's and the console's
test-invoke-stage), so the policy grows with every route. Lambda refuses a policy over 20 KB
("Function resource-based policy" in the Lambda quotas page; the deploy fails with "The final
policy size (…) is bigger than the limit (20480)", PolicyLengthExceededException; aws-cdk
issue 5774), and nothing short of a deploy shows it. Each
statement is written here as Lambda stores it, with every reference resolved at the longest value
it can take.
"""

from __future__ import annotations

import collections
import json
from typing import Any

import pytest

from tests.infra.conftest import Synth

POLICY_LIMIT_BYTES = 20 * 1024

# The longest value each reference can resolve to: GovCloud's partition (the longest), a region
# name above today's longest (14 characters, ap-southeast-4), 12-digit accounts, REST API ids
# (10 characters), stage names (the stack allows 128), statement ids (Lambda allows 100) and
# function names (64).
LONGEST = {
    "AWS::Partition": "aws-us-gov",
    "AWS::Region": "r" * 16,
    "AWS::AccountId": "1" * 12,
    "AWS::ApiGateway::RestApi": "a" * 10,
    "AWS::ApiGateway::Stage": "s" * 128,
    "AWS::Lambda::Alias": "live",
}
SID = "x" * 100
FUNCTION_NAME = "f" * 64


def _resolve(value: Any, resources: dict[str, Any]) -> str:
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(_resolve(p, resources) for p in parts)
    if "Ref" in value:
        name = value["Ref"]
        if name in LONGEST:
            return LONGEST[name]
        return LONGEST.get(resources[name]["Type"], "r" * 64)
    if "Fn::GetAtt" in value:
        return "r" * 64
    raise AssertionError(f"no rule to resolve {value}")


def _function_arn(target: Any, resources: dict[str, Any]) -> str:
    """The ARN the statement's Resource holds: an alias's qualified ARN or the function's."""
    base = (
        f"arn:{LONGEST['AWS::Partition']}:lambda:{LONGEST['AWS::Region']}:"
        f"{LONGEST['AWS::AccountId']}:function:{FUNCTION_NAME}"
    )
    if "Ref" in target and resources[target["Ref"]]["Type"] == "AWS::Lambda::Alias":
        return f"{base}:{resources[target['Ref']]['Properties']['Name']}"
    return base


def _statement(props: dict[str, Any], resources: dict[str, Any]) -> dict[str, Any]:
    """One permission as `aws lambda get-policy` shows it."""
    principal = props["Principal"]
    statement: dict[str, Any] = {
        "Sid": SID,
        "Effect": "Allow",
        "Principal": {"Service": principal} if principal.endswith(".com") else {"AWS": principal},
        "Action": props["Action"],
        "Resource": _function_arn(props["FunctionName"], resources),
    }
    condition: dict[str, Any] = {}
    if "SourceArn" in props:
        condition["ArnLike"] = {"AWS:SourceArn": _resolve(props["SourceArn"], resources)}
    if "SourceAccount" in props:
        condition["StringEquals"] = {"AWS:SourceAccount": LONGEST["AWS::AccountId"]}
    if condition:
        statement["Condition"] = condition
    return statement


def policy_sizes(synth: Synth) -> dict[str, tuple[int, int]]:
    """Per function (or alias) the permissions target: (statements, policy bytes)."""
    resources = synth.resources
    by_target: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for permission in synth.of_type("AWS::Lambda::Permission").values():
        props = permission["Properties"]
        key = json.dumps(props["FunctionName"], sort_keys=True)
        by_target[key].append(_statement(props, resources))
    return {
        key: (
            len(statements),
            len(json.dumps({"Version": "2012-10-17", "Id": "default", "Statement": statements})),
        )
        for key, statements in by_target.items()
    }


@pytest.mark.parametrize("variant", ["default", "full", "iam", "release", "monitoring"])
def test_every_resource_policy_fits_lambdas_quota(
    variant: str, request: pytest.FixtureRequest
) -> None:
    sizes = policy_sizes(request.getfixturevalue(variant))
    assert sizes, "the API must be allowed to invoke its function"
    for target, (count, size) in sizes.items():
        # Resolved at the longest names AWS allows, so the bound needs no further margin. Today's
        # largest, the API's function or alias: 14 statements (7 methods x 2), 7.9 KB; a method
        # adds 2 statements (~1.1 KB), so about 11 more fit.
        assert size <= POLICY_LIMIT_BYTES, (
            f"{target}: {count} statements, {size} bytes at the longest names; Lambda refuses a "
            f"policy over {POLICY_LIMIT_BYTES} bytes. Fewer methods (one proxy route) or "
            "LambdaIntegration(allow_test_invoke=False) halves the statements."
        )
