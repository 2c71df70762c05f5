"""The GitHub Actions deploy role's stack (githubRepository in cdk.json), synthesized: who may
assume it (one repository's jobs in one GitHub environment, through GitHub's OIDC provider, no
keys), what it may do (the CDK bootstrap roles, reading the service stack), cdk-nag and
cfn-lint clean."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match, Template

PROVIDER = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"


def _role_stack(app_builder: Any, **context: Any) -> Any:
    app, _ = app_builder({"githubRepository": "example-org/sentiment-api", **context})
    return app.node.find_child("SentimentApi-GitHubDeploy")


@pytest.fixture(scope="module")
def role_stack(app_builder: Any) -> Any:
    return _role_stack(app_builder)


@pytest.fixture(scope="module")
def template(role_stack: Any) -> dict[str, Any]:
    return Template.from_stack(role_stack).to_json()


def _of_type(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == kind]


def test_only_that_repository_in_that_environment_may_assume_it(template: dict[str, Any]):
    (provider,) = _of_type(template, "AWS::IAM::OIDCProvider")
    assert provider["Properties"] == {
        "Url": "https://token.actions.githubusercontent.com",
        "ClientIdList": ["sts.amazonaws.com"],
    }
    (role,) = _of_type(template, "AWS::IAM::Role")
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert set(statement["Principal"]) == {"Federated"}  # GitHub's tokens, no user or key
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": (
                "repo:example-org/sentiment-api:environment:production"
            ),
        }
    }  # StringEquals, no wildcard: another branch, fork or environment gets nothing
    assert role["Properties"]["MaxSessionDuration"] == 3600


def test_it_deploys_through_the_cdk_bootstrap_roles_and_nothing_else(template: dict[str, Any]):
    (policy,) = _of_type(template, "AWS::IAM::Policy")
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert set(statements) == {"AssumeCdkBootstrapRoles", "ReadServiceStack"}
    assume = statements["AssumeCdkBootstrapRoles"]
    assert assume["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    assert ":role/cdk-hnb659fds-*-" in json.dumps(assume["Resource"])
    read = statements["ReadServiceStack"]
    assert read["Action"] == "cloudformation:DescribeStacks"
    assert ":stack/SentimentApi/*" in json.dumps(read["Resource"])
    assert set(template["Outputs"]) == {"DeployRoleArn"}


def test_an_existing_provider_and_another_qualifier_and_environment(app_builder: Any) -> None:
    stack = _role_stack(
        app_builder,
        githubOidcProviderArn=PROVIDER,
        githubEnvironment="prod-eu",
        **{"@aws-cdk/core:bootstrapQualifier": "team42"},
    )
    template = Template.from_stack(stack).to_json()
    assert _of_type(template, "AWS::IAM::OIDCProvider") == []
    (role,) = _of_type(template, "AWS::IAM::Role")
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Federated": PROVIDER}
    assert statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] == (
        "repo:example-org/sentiment-api:environment:prod-eu"
    )
    (policy,) = _of_type(template, "AWS::IAM::Policy")
    assert ":role/cdk-team42-*-" in json.dumps(policy["Properties"]["PolicyDocument"])


def test_no_role_stack_without_a_repository(default: Any) -> None:
    children = default.stack.node.scope.node.children
    assert [c.node.id for c in children if hasattr(c, "stack_name")] == ["SentimentApi"]


def test_cdk_nag_and_cfn_lint_are_clean(role_stack: Any, template: dict[str, Any]) -> None:
    from cfnlint.api import lint

    annotations = Annotations.from_stack(role_stack)
    findings = annotations.find_error(
        "*", Match.string_like_regexp("AwsSolutions-.*")
    ) + annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))
    assert findings == [], [f.entry.data for f in findings]
    matches = lint(json.dumps(template), regions=["us-east-1", "eu-west-1"])
    assert [str(m) for m in matches if m.rule.id.startswith("E")] == []
