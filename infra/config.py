"""The CDK app's settings: every `cdk.json` / `-c key=value` context key, validated at synth.

    npx cdk synth -c architecture=arm64 -c provisionedConcurrency=2 -c authMode=apiKey

`ServiceConfig.from_context(app.node)` is the only place that reads context. Values given with
`-c` arrive as strings and values from `cdk.json` arrive typed, so every reader accepts both. A bad
value raises `ConfigError` naming the key, what was given and how to write it; `cdk synth` stops
there, before any template is written.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field, fields
from typing import Any

from aws_cdk import aws_logs as logs
from constructs import Node

# The function's own bounds (dependency-free, no pydantic): a value synth accepts is one the
# function's Settings accept at init, instead of a stack that deploys and then fails every route.
from function.setting_bounds import LOG_LEVELS, MAX_CHARS_MIN, MAX_TEXTS_MAX, MAX_TEXTS_MIN

ARCHITECTURES = ("x86_64", "arm64")
AUTH_MODES = ("none", "apiKey", "iam")
# The retentions CloudWatch Logs accepts (days -> aws_logs.RetentionDays member name).
RETENTION = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS",
    30: "ONE_MONTH", 60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS",
    150: "FIVE_MONTHS", 180: "SIX_MONTHS", 365: "ONE_YEAR", 400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS", 1827: "FIVE_YEARS",
    2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}  # fmt: skip
RETENTION_DAYS = tuple(RETENTION)
# API Gateway REST APIs give up on an integration after 29 s.
API_INTEGRATION_TIMEOUT_S = 29

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX_PART_RE = re.compile(r"^[A-Za-z0-9._=-]+$")
_STACK_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
_STAGE_RE = re.compile(r"^[A-Za-z0-9_]{1,128}$")
_ORIGIN_RE = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ConfigError(ValueError):
    """A context value that cannot be deployed; the message says how to fix it."""


@dataclass(frozen=True)
class ModelLocation:
    """Where the function loads its bundle from. `bucket` is None for the stack's own bucket."""

    bucket: str | None
    key: str  # e.g. models/latest.json or models/<run-id>

    def uri(self, artifacts_bucket_name: str) -> str:
        return f"s3://{self.bucket or artifacts_bucket_name}/{self.key}"


def _key(name: str) -> dict[str, str]:
    return {"key": name}


@dataclass(frozen=True)
class ServiceConfig:
    """Every knob of the stack; the metadata `key` is the context key (`-c key=value`)."""

    stack_name: str = field(default="SentimentApi", metadata=_key("stackName"))
    # The bundle the function serves: a key in the artifacts bucket (models/latest.json follows the
    # last run that passed its quality gate; models/<run-id> pins one run) or a full s3:// URI.
    # cdk.json's context holds it, so a pinned run survives the next plain `cdk deploy`.
    model_uri: str = field(default="models/latest.json", metadata=_key("modelUri"))
    # The function may read this prefix and nothing else; training publishes runs under it.
    model_prefix: str = field(default="models", metadata=_key("modelPrefix"))
    memory_mb: int = field(default=2048, metadata=_key("memoryMb"))
    timeout_seconds: int = field(default=API_INTEGRATION_TIMEOUT_S, metadata=_key("timeoutSeconds"))
    architecture: str = field(default="x86_64", metadata=_key("architecture"))
    # None leaves the function on the account's unreserved pool; 0 is the off switch.
    reserved_concurrency: int | None = field(default=None, metadata=_key("reservedConcurrency"))
    # > 0 publishes a version, points the `live` alias at it and keeps this many warm.
    provisioned_concurrency: int = field(default=0, metadata=_key("provisionedConcurrency"))
    log_level: str = field(default="INFO", metadata=_key("logLevel"))
    log_retention_days: int = field(default=30, metadata=_key("logRetentionDays"))
    max_texts: int | None = field(default=None, metadata=_key("maxTexts"))
    max_chars: int | None = field(default=None, metadata=_key("maxChars"))
    cors_origins: tuple[str, ...] = field(default=(), metadata=_key("corsOrigins"))
    stage_name: str = field(default="prod", metadata=_key("stageName"))
    # JSON access logs of the stage: they see what never reaches the function (throttles, auth
    # refusals, 504s). Like execution logs, they need the region's API Gateway CloudWatch role.
    api_access_logs: bool = field(default=True, metadata=_key("apiAccessLogs"))
    # Error-level execution logs, into a log group the stack owns (retention, deleted with it).
    api_execution_logs: bool = field(default=False, metadata=_key("apiExecutionLogs"))
    # Creates the API Gateway -> CloudWatch role and makes it the account's setting for the whole
    # region (every API there logs through it); kept on destroy for the same reason. On by
    # default because any API Gateway logging fails the first deploy in a region that has no
    # such role; synth warns that it does so. `false` where the account manages that setting.
    api_cloudwatch_role: bool = field(default=True, metadata=_key("apiCloudWatchRole"))
    throttle_rate_limit: float = field(default=50.0, metadata=_key("throttleRateLimit"))
    throttle_burst_limit: int = field(default=100, metadata=_key("throttleBurstLimit"))
    auth_mode: str = field(default="none", metadata=_key("authMode"))
    alarm_topic: bool = field(default=False, metadata=_key("alarmTopic"))
    alarm_email: str | None = field(default=None, metadata=_key("alarmEmail"))
    alarm_5xx_rate_percent: float = field(default=1.0, metadata=_key("alarm5xxRatePercent"))
    alarm_p99_latency_ms: int = field(default=3000, metadata=_key("alarmP99LatencyMs"))
    alarm_throttles: int = field(default=1, metadata=_key("alarmThrottles"))
    alarm_errors: int = field(default=1, metadata=_key("alarmErrors"))
    noncurrent_version_days: int = field(default=30, metadata=_key("noncurrentVersionDays"))

    def __post_init__(self) -> None:
        # The function upper-cases it too; frozen, hence object.__setattr__.
        object.__setattr__(self, "log_level", self.log_level.upper())
        _check(
            _STACK_NAME_RE.match(self.stack_name),
            "stackName",
            self.stack_name,
            "a CloudFormation stack name: a letter, then letters, digits and hyphens",
        )
        self._check_model()
        _check(
            128 <= self.memory_mb <= 10240,
            "memoryMb",
            self.memory_mb,
            "a whole number of MB from 128 to 10240",
        )
        _check(
            1 <= self.timeout_seconds <= 900,
            "timeoutSeconds",
            self.timeout_seconds,
            "1 to 900 seconds (the API answers 504 after 29 s whatever the function does)",
        )
        _check(
            self.architecture in ARCHITECTURES,
            "architecture",
            self.architecture,
            _one_of(ARCHITECTURES),
        )
        _check(
            self.reserved_concurrency is None or self.reserved_concurrency >= 0,
            "reservedConcurrency",
            self.reserved_concurrency,
            "0 or more (0 stops the function), or null to leave it unreserved",
        )
        _check(
            self.provisioned_concurrency >= 0,
            "provisionedConcurrency",
            self.provisioned_concurrency,
            "0 (off) or more warm environments",
        )
        if self.reserved_concurrency is not None:
            _check(
                self.provisioned_concurrency <= self.reserved_concurrency,
                "provisionedConcurrency",
                self.provisioned_concurrency,
                f"at most reservedConcurrency ({self.reserved_concurrency}); raise "
                "reservedConcurrency or lower provisionedConcurrency",
            )
        _check(self.log_level in LOG_LEVELS, "logLevel", self.log_level, _one_of(LOG_LEVELS))
        _check(
            self.log_retention_days in RETENTION_DAYS,
            "logRetentionDays",
            self.log_retention_days,
            _one_of(RETENTION_DAYS),
        )
        _check(
            self.max_texts is None or MAX_TEXTS_MIN <= self.max_texts <= MAX_TEXTS_MAX,
            "maxTexts",
            self.max_texts,
            f"a whole number from {MAX_TEXTS_MIN} to {MAX_TEXTS_MAX} (the function's limit, "
            "function/setting_bounds.py), or null for the function's default",
        )
        _check(
            self.max_chars is None or self.max_chars >= MAX_CHARS_MIN,
            "maxChars",
            self.max_chars,
            f"a whole number, {MAX_CHARS_MIN} or more, or null for the function's default",
        )
        for origin in self.cors_origins:
            _check(
                origin == "*" or _ORIGIN_RE.match(origin),
                "corsOrigins",
                origin,
                'a list of origins like "https://app.example.com" (scheme and host, no '
                'path or trailing slash) or ["*"]',
            )
        _check(
            _STAGE_RE.match(self.stage_name),
            "stageName",
            self.stage_name,
            "letters, digits and underscores",
        )
        _check(
            self.throttle_rate_limit > 0,
            "throttleRateLimit",
            self.throttle_rate_limit,
            "requests per second, more than 0",
        )
        _check(
            self.throttle_burst_limit >= 1,
            "throttleBurstLimit",
            self.throttle_burst_limit,
            "a whole number of requests, 1 or more",
        )
        _check(self.auth_mode in AUTH_MODES, "authMode", self.auth_mode, _one_of(AUTH_MODES))
        _check(
            self.alarm_email is None or _EMAIL_RE.match(self.alarm_email),
            "alarmEmail",
            self.alarm_email,
            "an e-mail address, or null for no subscription",
        )
        _check(
            0 < self.alarm_5xx_rate_percent <= 100,
            "alarm5xxRatePercent",
            self.alarm_5xx_rate_percent,
            "a percentage of requests, more than 0 up to 100",
        )
        for key, value in (
            ("alarmP99LatencyMs", self.alarm_p99_latency_ms),
            ("alarmThrottles", self.alarm_throttles),
            ("alarmErrors", self.alarm_errors),
            ("noncurrentVersionDays", self.noncurrent_version_days),
        ):
            _check(value >= 1, key, value, "a whole number, 1 or more")

    def _check_model(self) -> None:
        prefix = self.model_prefix.strip("/")
        _check(
            prefix and all(_PREFIX_PART_RE.match(p) for p in prefix.split("/")),
            "modelPrefix",
            self.model_prefix,
            "a key prefix like models (letters, digits, . _ = -, and /)",
        )
        location = self.model_location
        _check(
            location.key == prefix or location.key.startswith(prefix + "/"),
            "modelUri",
            self.model_uri,
            f"a location under modelPrefix {prefix!r} (the only prefix the function may read):"
            f" {prefix}/latest.json, {prefix}/<run-id> or s3://<bucket>/{prefix}/<run-id>;"
            " or set modelPrefix to match",
        )

    @property
    def model_location(self) -> ModelLocation:
        """modelUri split into bucket and key; raises ConfigError when it is malformed."""
        uri = self.model_uri.strip()
        how = (
            "models/latest.json, models/<run-id> (keys in the stack's artifacts bucket) or "
            "s3://<bucket>/models/<run-id>"
        )
        bucket: str | None = None
        key = uri
        if "://" in uri:
            scheme, _, rest = uri.partition("://")
            _check(
                scheme == "s3",
                "modelUri",
                uri,
                f"an S3 location, not {scheme}:// (the function reads bundles from S3): {how}",
            )
            bucket, _, key = rest.partition("/")
            _check(
                _BUCKET_RE.match(bucket),
                "modelUri",
                uri,
                f"a valid bucket name (lowercase letters, digits, dots, hyphens): {how}",
            )
        key = key.strip("/")
        parts = key.split("/")
        _check(
            key and all(_PREFIX_PART_RE.match(p) and p not in (".", "..") for p in parts),
            "modelUri",
            uri,
            f"a key with no empty, relative or unusual path parts: {how}",
        )
        return ModelLocation(bucket=bucket, key=key)

    def function_environment(self, model_uri: str) -> dict[str, str]:
        """The function's environment: every name is a field of `function.config.Settings`
        (upper-cased), and every value is within its bounds (checked above)."""
        environment = {
            "MODEL_URI": model_uri,
            "LOG_LEVEL": self.log_level,
            "CORS_ORIGINS": ",".join(self.cors_origins),
        }
        if self.max_texts is not None:
            environment["MAX_TEXTS"] = str(self.max_texts)
        if self.max_chars is not None:
            environment["MAX_CHARS"] = str(self.max_chars)
        return environment

    @property
    def log_retention(self) -> logs.RetentionDays:
        return logs.RetentionDays[RETENTION[self.log_retention_days]]

    @property
    def model_read_prefix(self) -> str:
        return self.model_prefix.strip("/")

    @classmethod
    def context_keys(cls) -> dict[str, str]:
        """Context key -> dataclass field name."""
        return {f.metadata["key"]: f.name for f in fields(cls)}

    @classmethod
    def from_context(cls, node: Node) -> ServiceConfig:
        """Reads every key from the app's context (cdk.json, cdk.context.json, `-c`)."""
        known = cls.context_keys()
        _reject_near_misses(node.get_all_context(), known)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = node.try_get_context(f.metadata["key"])
            if raw is not None:
                values[f.name] = _coerce(f.metadata["key"], raw, f.type)
        return cls(**values)


def _coerce(key: str, raw: Any, type_name: Any) -> Any:
    """Turns a context value (typed from cdk.json, a string from `-c`) into the field's type."""
    optional = "None" in str(type_name)
    base = str(type_name).replace(" | None", "")
    if isinstance(raw, str) and optional and raw.strip().lower() in ("", "null", "none"):
        return None
    try:
        if base == "bool":
            if isinstance(raw, bool):
                return raw
            if str(raw).strip().lower() in ("true", "1", "yes", "on"):
                return True
            if str(raw).strip().lower() in ("false", "0", "no", "off"):
                return False
            raise ValueError(raw)
        if base == "int":
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError(raw)
            return int(str(raw).strip()) if isinstance(raw, str) else int(raw)
        if base == "float":
            if isinstance(raw, bool):
                raise ValueError(raw)
            return float(raw)
        if base.startswith("tuple"):
            if isinstance(raw, str):
                text = raw.strip()
                raw = json.loads(text) if text.startswith("[") else text.split(",")
            if not isinstance(raw, list | tuple):
                raise ValueError(raw)
            return tuple(str(item).strip() for item in raw if str(item).strip())
        return str(raw).strip()
    except (ValueError, TypeError, json.JSONDecodeError):
        expected = {"bool": "true or false", "int": "a whole number", "float": "a number"}.get(
            base, 'a JSON list like ["a","b"] or a comma-separated string'
        )
        raise ConfigError(
            f"context {key!r} is {raw!r}: expected {expected} (e.g. -c {key}=...)"
        ) from None


def _reject_near_misses(context: dict[str, Any], known: dict[str, str]) -> None:
    """A typo such as `-c memorymb=4096` would otherwise be ignored without a word."""
    lowered = {k.lower(): k for k in known}
    for key in context:
        if key in known or ":" in key or key.startswith("@"):
            continue
        match = lowered.get(key.lower()) or next(
            iter(difflib.get_close_matches(key, list(known), n=1, cutoff=0.85)), None
        )
        if match:
            raise ConfigError(f"context {key!r} is not a setting; did you mean {match!r}?")


def _one_of(values: tuple[Any, ...]) -> str:
    return "one of " + ", ".join(str(v) for v in values)


def _check(ok: Any, key: str, value: Any, expected: str) -> None:
    if not ok:
        raise ConfigError(f"context {key!r} is {value!r}: expected {expected} (-c {key}=...)")
