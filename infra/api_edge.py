"""What can stand in front of the API stage, each opt-in from cdk.json: a custom domain (with its
Route 53 alias record) and a WAFv2 web ACL (one made here, or one the account manages).
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

# AWS's managed rule groups the created ACL runs, in priority order after the rate limit.
MANAGED_RULE_GROUPS = ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet")
# The common rule set blocks request bodies over 8 KB; /predict takes up to maxTexts reviews of
# maxChars each, so that rule only counts.
COUNT_ONLY = {"AWSManagedRulesCommonRuleSet": ["SizeRestrictions_BODY"]}


class CustomDomain(Construct):
    """`domain_name` (regional endpoint, TLS 1.2) mapped to the API's stage at its root, with an
    alias A record in `hosted_zone_id` when given (else point your DNS at `target`)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: apigw.RestApi,
        domain_name: str,
        certificate_arn: str,
        hosted_zone_id: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.domain = apigw.DomainName(
            self,
            "Domain",
            domain_name=domain_name,
            certificate=acm.Certificate.from_certificate_arn(self, "Certificate", certificate_arn),
            endpoint_type=apigw.EndpointType.REGIONAL,
            security_policy=apigw.SecurityPolicy.TLS_1_2,
            mapping=api,
        )
        # The name API Gateway serves the domain on: a CNAME or alias target for other DNS.
        self.target = self.domain.domain_name_alias_domain_name
        if hosted_zone_id:
            route53.ARecord(
                self,
                "Alias",
                # A trailing dot makes the name absolute, so the zone's name is not needed.
                zone=route53.HostedZone.from_hosted_zone_id(self, "Zone", hosted_zone_id),
                record_name=f"{domain_name}.",
                target=route53.RecordTarget.from_alias(
                    route53_targets.ApiGatewayDomain(self.domain)
                ),
            )


class WebAcl(Construct):
    """Associates a regional web ACL with `stage`: `web_acl` "managed" creates one (a per-IP
    rate limit, then AWS's managed rule groups), an ARN attaches an existing one."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: apigw.Stage,
        web_acl: str,
        rate_limit: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.web_acl_arn = web_acl
        if web_acl == "managed":
            self.web_acl_arn = self._managed(rate_limit).attr_arn
        # stage_arn refers to the stage, so CloudFormation associates the ACL after creating it.
        wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage.stage_arn, web_acl_arn=self.web_acl_arn
        )

    def _managed(self, rate_limit: int) -> wafv2.CfnWebACL:
        prefix = Stack.of(self).stack_name

        def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True,
                metric_name=f"{prefix}-{name}",
                sampled_requests_enabled=True,
            )

        rules = [
            wafv2.CfnWebACL.RuleProperty(
                name="RateLimitPerIp",
                priority=0,
                action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        limit=rate_limit, aggregate_key_type="IP", evaluation_window_sec=300
                    )
                ),
                visibility_config=visibility("RateLimitPerIp"),
            )
        ]
        for priority, group in enumerate(MANAGED_RULE_GROUPS, start=1):
            overrides = [
                wafv2.CfnWebACL.RuleActionOverrideProperty(
                    name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                )
                for rule in COUNT_ONLY.get(group, [])
            ]
            rules.append(
                wafv2.CfnWebACL.RuleProperty(
                    name=group,
                    priority=priority,
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS", name=group, rule_action_overrides=overrides or None
                        )
                    ),
                    visibility_config=visibility(group),
                )
            )
        return wafv2.CfnWebACL(
            self,
            "Acl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility("WebAcl"),
            rules=rules,
        )
