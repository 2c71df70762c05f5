"""Opt-in settings (cdk.json context): API-key rotation, a custom domain, a web ACL, and the role
a GitHub Actions workflow deploys with. `ServiceConfig` (infra/config.py) inherits them, so they
are read and checked like every other setting; all are off until cdk.json names them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from infra.context import Rule, check, matches, setting

_KEY_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")
_DOMAIN_RE = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_CERTIFICATE_RE = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$")
_ZONE_RE = re.compile(r"^Z[A-Z0-9]{1,31}$")
_WEB_ACL_RE = re.compile(
    r"^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional/webacl/[A-Za-z0-9_-]+/[A-Za-z0-9-]+$"
)
_REPOSITORY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
_ENVIRONMENT_RE = re.compile(r"^[A-Za-z0-9._-]{1,255}$")
_OIDC_PROVIDER_RE = re.compile(
    r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com$"
)
WEB_ACL_MODES = ("off", "managed")


@dataclass(frozen=True)
class OptInSettings:
    # fmt: off
    # authMode=apiKey: the keys bound to the usage plan, by name. Rotate by adding a name
    # (deploy: both keys work), moving clients to the new key, then removing the old name
    # (deploy: it is deleted). "ApiKey" is the first key's construct id; renaming it replaces it.
    api_keys: tuple[str, ...] = setting("apiKeys", ("ApiKey",), matches(
        _KEY_NAME_RE, "key names: a letter, then up to 63 letters and digits"))
    # A custom domain in front of the stage (regional endpoint, TLS 1.2), with an ACM certificate
    # of the stack's region; with hostedZoneId, an alias record in that Route 53 zone too.
    domain_name: str | None = setting("domainName", None, matches(
        _DOMAIN_RE, "a lower-case DNS name like api.example.com, or null for none"))
    certificate_arn: str | None = setting("certificateArn", None, matches(
        _CERTIFICATE_RE, "an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)"))
    hosted_zone_id: str | None = setting("hostedZoneId", None, matches(
        _ZONE_RE, "a Route 53 hosted zone id like Z0123456789ABCDEFGHIJ"))
    # A WAFv2 web ACL on the stage: "managed" creates one (AWS's common and known-bad-inputs rule
    # groups, a per-IP rate limit), an ARN attaches one you manage; "off" attaches none.
    web_acl: str = setting("webAcl", "off", Rule(
        lambda v: v in WEB_ACL_MODES or _WEB_ACL_RE.match(v),
        "off, managed, or a regional WAFv2 web ACL ARN (arn:aws:wafv2:<region>:<account>:"
        "regional/webacl/<name>/<id>)"))
    # Requests one client IP may send in any 5 minutes before the managed ACL blocks it.
    web_acl_rate_limit: int = setting("webAclRateLimit", 2000, Rule(
        lambda v: 10 <= v <= 2_000_000_000, "a whole number of requests per 5 minutes, 10 or more"))
    # The GitHub repository (owner/name) whose deploy workflow may assume the deploy role; set,
    # the app adds the <stackName>-GitHubDeploy stack (infra/deploy_role.py).
    github_repository: str | None = setting("githubRepository", None, matches(
        _REPOSITORY_RE, "owner/name of a GitHub repository, or null for no deploy role"))
    # Only jobs that run in this GitHub environment (its required reviewers are the approval)
    # may assume the role.
    github_environment: str = setting("githubEnvironment", "production", matches(
        _ENVIRONMENT_RE, "a GitHub environment name"))
    # An account holds one OIDC provider per URL: name it when the account has one already.
    github_oidc_provider_arn: str | None = setting("githubOidcProviderArn", None, matches(
        _OIDC_PROVIDER_RE,
        "arn:aws:iam::<account>:oidc-provider/token.actions.githubusercontent.com, or null to "
        "create it"))
    # fmt: on

    def check_opt_ins(self) -> None:
        check(
            len(set(self.api_keys)) == len(self.api_keys) and bool(self.api_keys),
            "apiKeys",
            list(self.api_keys),
            "one or more distinct key names",
        )
        check(
            (self.domain_name is None) == (self.certificate_arn is None),
            "certificateArn" if self.domain_name else "domainName",
            self.certificate_arn if self.domain_name else self.domain_name,
            "domainName and certificateArn together (a custom domain needs its certificate)",
        )
        check(
            self.hosted_zone_id is None or self.domain_name is not None,
            "hostedZoneId",
            self.hosted_zone_id,
            "null unless domainName is set (the zone gets that name's alias record)",
        )
