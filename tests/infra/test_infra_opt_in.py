"""The opt-in settings at synth level: API-key rotation, a custom domain, a web ACL, lifecycle
rules for job files and bulk-scoring results. Each is off by default; `edge` turns them all on
(cdk-nag and cfn-lint check that variant in test_infra_nag.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

from infra.context import ConfigError
from tests.infra.test_infra_config import config

WEB_ACL_ARN = (
    "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/shared-acl/"
    "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
)


def test_none_of_it_by_default(default: Any) -> None:
    for kind in ("AWS::ApiGateway::DomainName", "AWS::WAFv2::WebACL",
                 "AWS::WAFv2::WebACLAssociation", "AWS::Route53::RecordSet",
                 "AWS::ApiGateway::ApiKey", "AWS::IAM::OIDCProvider"):  # fmt: skip
        default.template.resource_count_is(kind, 0)


# --- API keys -----------------------------------------------------------------------------------


def test_two_keys_work_during_a_rotation_and_the_output_names_the_newest(
    edge: Any, full: Any
) -> None:
    keys = edge.of_type("AWS::ApiGateway::ApiKey")
    assert len(keys) == 2
    plan_keys = edge.of_type("AWS::ApiGateway::UsagePlanKey").values()
    assert {k["Properties"]["KeyId"]["Ref"] for k in plan_keys} == set(keys)
    newest = next(k for k in keys if k.startswith("PublicApiApiKey2027a"))
    assert edge.outputs["ApiKeyId"]["Value"] == {"Ref": newest}
    # The first key keeps the logical id it had before rotation existed: a deploy keeps its value.
    (first,) = full.of_type("AWS::ApiGateway::ApiKey")
    assert first in keys


def test_api_key_names_are_checked() -> None:
    with pytest.raises(
        ConfigError, match="'apiKeys' is \\['a', 'a'\\]: expected one or more distinct"
    ):
        config(apiKeys=["a", "a"])
    with pytest.raises(ConfigError, match="'apiKeys' is 'key-2'"):
        config(apiKeys="key-2")


# --- custom domain ------------------------------------------------------------------------------


def test_the_custom_domain_maps_the_stage_and_gets_its_alias_record(edge: Any) -> None:
    domain_id, domain = next(iter(edge.of_type("AWS::ApiGateway::DomainName").items()))
    assert domain["Properties"] == {
        "DomainName": "api.example.com",
        "EndpointConfiguration": {"Types": ["REGIONAL"]},
        "RegionalCertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f",
        "SecurityPolicy": "TLS_1_2",
    }
    mapping = edge.one("AWS::ApiGateway::BasePathMapping")["Properties"]
    stage_id = next(iter(edge.of_type("AWS::ApiGateway::Stage")))
    assert mapping["DomainName"] == {"Ref": domain_id} and mapping["Stage"] == {"Ref": stage_id}
    record = edge.one("AWS::Route53::RecordSet")["Properties"]
    assert record["Name"] == "api.example.com." and record["Type"] == "A"
    assert record["HostedZoneId"] == "Z0123456789ABCDEFGHIJ"
    assert record["AliasTarget"]["DNSName"] == {"Fn::GetAtt": [domain_id, "RegionalDomainName"]}
    assert edge.outputs["CustomDomainUrl"]["Value"] == "https://api.example.com/"


def test_a_domain_needs_its_certificate() -> None:
    with pytest.raises(ConfigError, match="'certificateArn' is None: expected domainName and"):
        config(domainName="api.example.com")
    with pytest.raises(ConfigError, match="'hostedZoneId'"):
        config(hostedZoneId="Z0123456789ABCDEFGHIJ")
    with pytest.raises(ConfigError, match=r"'domainName' is 'API\.example\.com'"):
        config(domainName="API.example.com", certificateArn="arn:aws:acm:x")


# --- web ACL ------------------------------------------------------------------------------------


def test_the_managed_web_acl_guards_the_stage_without_blocking_big_batches(edge: Any) -> None:
    acl_id, acl = next(iter(edge.of_type("AWS::WAFv2::WebACL").items()))
    props = acl["Properties"]
    assert props["Scope"] == "REGIONAL" and props["DefaultAction"] == {"Allow": {}}
    rules = {r["Name"]: r for r in props["Rules"]}
    assert rules["RateLimitPerIp"]["Statement"]["RateBasedStatement"]["Limit"] == 500
    assert rules["RateLimitPerIp"]["Action"] == {"Block": {}}
    common = rules["AWSManagedRulesCommonRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
    # /predict takes up to maxTexts reviews of maxChars: the 8 KB body rule only counts.
    assert common["RuleActionOverrides"] == [
        {"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}
    ]
    assert "AWSManagedRulesKnownBadInputsRuleSet" in rules
    association = edge.one("AWS::WAFv2::WebACLAssociation")["Properties"]
    assert association["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    stage_id = next(iter(edge.of_type("AWS::ApiGateway::Stage")))
    assert {"Ref": stage_id} in association["ResourceArn"]["Fn::Join"][1]


def test_an_existing_web_acl_is_attached_not_made(synth: Any) -> None:
    attached = synth({"webAcl": WEB_ACL_ARN})
    attached.template.resource_count_is("AWS::WAFv2::WebACL", 0)
    association = attached.one("AWS::WAFv2::WebACLAssociation")["Properties"]
    assert association["WebACLArn"] == WEB_ACL_ARN
    # cdk-nag's APIG3 (a web ACL on the stage) holds without the suppression webAcl=off needs.
    findings = Annotations.from_stack(attached.stack).find_error(
        "*", Match.string_like_regexp("AwsSolutions-.*")
    )
    assert findings == [], [f.entry.data for f in findings]
    with pytest.raises(ConfigError, match="'webAcl' is 'on': expected off, managed, or"):
        config(webAcl="on")


# --- lifecycle ----------------------------------------------------------------------------------


def _rules(synth: Any) -> dict[str, dict[str, Any]]:
    bucket = synth.one("AWS::S3::Bucket")["Properties"]
    return {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}


def test_job_files_and_batch_results_expire_and_published_runs_never_do(
    default: Any, edge: Any
) -> None:
    rules = _rules(default)
    expiring = {r["Prefix"]: r["ExpirationInDays"] for r in rules.values() if "Prefix" in r}
    assert expiring == {"code/": 30, "training-jobs/": 30, "batch/out/": 90}
    assert not any(r.get("Prefix", "").startswith("models") for r in rules.values())
    assert all("ExpirationInDays" not in r for r in rules.values() if "Prefix" not in r)
    tuned = {r["Prefix"]: r["ExpirationInDays"] for r in _rules(edge).values() if "Prefix" in r}
    assert tuned == {"code/": 7, "training-jobs/": 7}  # batchOutputDays null: kept


def test_the_edge_variant_synthesizes_the_deploy_role_stack_too(edge: Any) -> None:
    stacks = [c.node.id for c in edge.stack.node.scope.node.children if hasattr(c, "stack_name")]
    assert sorted(stacks) == ["SentimentApi", "SentimentApi-GitHubDeploy"]
    assert json.dumps(edge.outputs).count("DeployRoleArn") == 0  # the role is its own stack's
