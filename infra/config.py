"""The CDK app's settings: every `cdk.json` / `-c key=value` context key, validated at synth.

    npx cdk synth -c architecture=arm64 -c provisionedConcurrency=2 -c authMode=apiKey

`ServiceConfig.from_context(app.node)` is the only place that reads context. Each setting is
one declaration: its key, default and rule (`infra/context.py` types the value and checks it). A
bad value raises `ConfigError` naming the key, what was given and how to write it; `cdk synth`
stops there, before any template is written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields

from aws_cdk import aws_logs as logs
from constructs import Node

from contract.bundle import LATEST_POINTER
from contract.s3_names import BUCKET_NAME_RULE, is_bucket_name
from function.batch.layout import ROWS_PER_CHUNK

# The function's own bounds (dependency-free, no pydantic): a value synth accepts is one the
# function's Settings accept at init, instead of a stack that deploys and then fails every route.
from function.setting_bounds import (
    CONFIDENCE_FLOOR_DEFAULT,
    CONFIDENCE_FLOOR_MAX,
    CONFIDENCE_FLOOR_MIN,
    DRIFT_MIN_PREDICTIONS_DEFAULT,
    DRIFT_MIN_PREDICTIONS_MIN,
    DRIFT_WINDOW_DEFAULT,
    DRIFT_WINDOW_MAX,
    DRIFT_WINDOW_MIN,
    LOG_LEVELS,
    MAX_CHARS_MIN,
    MAX_TEXTS_MAX,
    MAX_TEXTS_MIN,
    SHADOW_SAMPLE_DEFAULT,
    SHADOW_SAMPLE_MAX,
    SHADOW_SAMPLE_MIN,
)
from infra.config_opt_in import OptInSettings
from infra.context import (
    Rule,
    at_least,
    between,
    check,
    check_rules,
    matches,
    one_of,
    read_context,
    setting,
)

ARCHITECTURES = ("x86_64", "arm64")
AUTH_MODES = ("none", "apiKey", "iam")
# CodeDeploy's predefined Lambda configs (CodeDeployDefault.Lambda<name>), and "off".
TRAFFIC_SHIFTS = (
    "off", "AllAtOnce", "Canary10Percent5Minutes", "Canary10Percent10Minutes",
    "Canary10Percent15Minutes", "Canary10Percent30Minutes", "Linear10PercentEvery1Minute",
    "Linear10PercentEvery2Minutes", "Linear10PercentEvery3Minutes",
    "Linear10PercentEvery10Minutes",
)  # fmt: skip
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

_PREFIX_PART_RE = re.compile(r"^[A-Za-z0-9._=-]+$")
_STACK_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
_STAGE_RE = re.compile(r"^[A-Za-z0-9_]{1,128}$")
_ORIGIN_RE = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
WHOLE_AT_LEAST_1 = at_least(1, "a whole number, 1 or more")
# Settings whose change a deploy must not make by accident (`python -m infra.deploy` compares
# them with the deployed stack's outputs of these names and refuses a change it was not told
# of): authMode decides who may call the API (leaving apiKey deletes the key and usage plan),
# apiCloudWatchRole whether the stack owns the region's API Gateway logging role.
GUARDED = {"authMode": "AuthMode", "apiCloudWatchRole": "ApiCloudWatchRole"}
# AWS's Lambda quotas page: new accounts start with reduced quotas (commonly 10 concurrent
# executions and 3,008 MB of function memory), so the defaults fit inside those.
NEW_ACCOUNT_MEMORY_MB = 3008


@dataclass(frozen=True)
class ModelLocation:
    """Where the function loads its bundle from. `bucket` is None for the stack's own bucket."""

    bucket: str | None
    key: str  # e.g. models/latest.json or models/<run-id>

    def uri(self, artifacts_bucket_name: str) -> str:
        return f"s3://{self.bucket or artifacts_bucket_name}/{self.key}"


@dataclass(frozen=True)
class ServiceConfig(OptInSettings):
    """Every knob of the stack: its context key (cdk.json's context), default and rule; the
    opt-in ones (API keys, domain, web ACL, deploy role) are declared in infra/config_opt_in.py."""

    # fmt: off
    stack_name: str = setting("stackName", "SentimentApi", matches(
        _STACK_NAME_RE, "a CloudFormation stack name: a letter, then letters, digits and hyphens"))
    # The bundle the function serves: a key in the artifacts bucket (models/latest.json follows the
    # last run that passed its quality gate; models/<run-id> pins one run) or a full s3:// URI.
    # cdk.json's context holds it, so a pinned run survives the next plain `cdk deploy`.
    # Its rules (a location under modelPrefix) are checked in _check_model.
    model_uri: str = setting("modelUri", "models/latest.json")
    # The function may read this prefix and nothing else; training publishes runs under it.
    model_prefix: str = setting("modelPrefix", "models", Rule(
        lambda v: _is_key(v.strip("/")),
        "a key prefix like models (letters, digits, . _ = -, and /)"))
    memory_mb: int = setting("memoryMb", 2048, between(
        128, 10240, "a whole number of MB from 128 to 10240"))
    timeout_seconds: int = setting("timeoutSeconds", API_INTEGRATION_TIMEOUT_S, between(
        1, 900, "1 to 900 seconds (the API answers 504 after 29 s whatever the function does)"))
    architecture: str = setting("architecture", "x86_64", one_of(ARCHITECTURES))
    # None leaves the function on the account's unreserved pool; 0 is the off switch.
    reserved_concurrency: int | None = setting("reservedConcurrency", None, at_least(
        0, "0 or more (0 stops the function), or null to leave it unreserved"))
    # > 0 publishes a version, points the `live` alias at it and keeps this many warm; at most
    # reservedConcurrency (checked in __post_init__).
    provisioned_concurrency: int = setting("provisionedConcurrency", 0, at_least(
        0, "0 (off) or more warm environments"))
    # Upper-cased first, as the function does.
    log_level: str = setting("logLevel", "INFO", one_of(LOG_LEVELS))
    log_retention_days: int = setting("logRetentionDays", 30, one_of(RETENTION_DAYS))
    max_texts: int | None = setting("maxTexts", None, between(
        MAX_TEXTS_MIN, MAX_TEXTS_MAX, f"a whole number from {MAX_TEXTS_MIN} to {MAX_TEXTS_MAX} "
        "(the function's limit, function/setting_bounds.py), or null for the function's default"))
    max_chars: int | None = setting("maxChars", None, at_least(
        MAX_CHARS_MIN,
        f"a whole number, {MAX_CHARS_MIN} or more, or null for the function's default"))
    # The function's CONFIDENCE_FLOOR: its request log counts the predictions scored below it,
    # and alarmLowConfidencePercent alarms on their share; 0 counts none and drops that alarm.
    confidence_floor: float = setting("confidenceFloor", CONFIDENCE_FLOOR_DEFAULT, between(
        CONFIDENCE_FLOOR_MIN, CONFIDENCE_FLOOR_MAX,
        f"a score from {CONFIDENCE_FLOOR_MIN} to {CONFIDENCE_FLOOR_MAX} (0 turns the "
        "low-confidence alarm off)"))
    cors_origins: tuple[str, ...] = setting("corsOrigins", (), Rule(
        lambda v: v == "*" or _ORIGIN_RE.match(v),
        'a list of origins like "https://app.example.com" (scheme and host, no path or trailing '
        'slash) or ["*"]'))
    stage_name: str = setting("stageName", "prod", matches(
        _STAGE_RE, "letters, digits and underscores"))
    # JSON access logs of the stage: they see what never reaches the function (throttles, auth
    # refusals, 504s). Like execution logs, they need the region's API Gateway CloudWatch role.
    api_access_logs: bool = setting("apiAccessLogs", True)
    # Error-level execution logs, into a log group the stack owns (retention, deleted with it).
    api_execution_logs: bool = setting("apiExecutionLogs", False)
    # Creates the API Gateway -> CloudWatch role and makes it the account's setting for the whole
    # region (every API there logs through it); kept on destroy for the same reason. On by
    # default because any API Gateway logging fails the first deploy in a region that has no
    # such role; synth warns that it does so. `false` where the account manages that setting.
    api_cloudwatch_role: bool = setting("apiCloudWatchRole", True)
    throttle_rate_limit: float = setting("throttleRateLimit", 50.0, Rule(
        lambda v: v > 0, "requests per second, more than 0"))
    throttle_burst_limit: int = setting("throttleBurstLimit", 100, at_least(
        1, "a whole number of requests, 1 or more"))
    auth_mode: str = setting("authMode", "none", one_of(AUTH_MODES))
    alarm_topic: bool = setting("alarmTopic", False)
    alarm_email: str | None = setting("alarmEmail", None, matches(
        _EMAIL_RE, "an e-mail address, or null for no subscription"))
    alarm_5xx_rate_percent: float = setting("alarm5xxRatePercent", 1.0, Rule(
        lambda v: 0 < v <= 100, "a percentage of requests, more than 0 up to 100"))
    alarm_p99_latency_ms: int = setting("alarmP99LatencyMs", 3000, WHOLE_AT_LEAST_1)
    alarm_throttles: int = setting("alarmThrottles", 1, WHOLE_AT_LEAST_1)
    alarm_errors: int = setting("alarmErrors", 1, WHOLE_AT_LEAST_1)
    alarm_low_confidence_percent: float = setting("alarmLowConfidencePercent", 50.0, Rule(
        lambda v: 0 < v < 100, "a percentage of predictions, more than 0 and under 100"))
    noncurrent_version_days: int = setting("noncurrentVersionDays", 30, WHOLE_AT_LEAST_1)
    # Days before the training job's packaged code (code/) and SageMaker's job output
    # (training-jobs/: checkpoints, output.tar.gz) expire; the published runs (models/) never do.
    job_files_days: int | None = setting("jobFilesDays", 30, at_least(
        1, "a whole number of days, 1 or more, or null to keep them"))
    # Days before a bulk-scoring job's results (batch/out/) expire; its input (batch/in/) stays.
    batch_output_days: int | None = setting("batchOutputDays", 90, at_least(
        1, "a whole number of days, 1 or more, or null to keep them"))
    # How CodeDeploy moves the `live` alias to a new version (a CodeDeployDefault.Lambda<name>
    # config), rolled back on the alarms; "off" (dev stacks) points the API at the function.
    # Anything but "off" needs a pinned run (checked in _check_release).
    traffic_shift: str = setting("trafficShift", "off", one_of(TRAFFIC_SHIFTS))
    # Bulk scoring: files under batch/in/ of the artifacts bucket, scored by a second function
    # from the same image, fanned out by a Step Functions Distributed Map.
    batch_scoring: bool = setting("batchScoring", True)
    # A new account's memory quota (3008 MB, ~1.7 vCPUs). 3538 MB gives 2 vCPUs, the shape
    # bench/batch.py measures, where the account's quota is the standard 10240 MB.
    batch_memory_mb: int = setting("batchMemoryMb", NEW_ACCOUNT_MEMORY_MB, between(
        128, 10240, "a whole number of MB from 128 to 10240"))
    # Chunks one file scores at once. Files scored at the same time add up, and all of it comes
    # out of the concurrency the API uses unless batchReservedConcurrency caps it: 2 of a new
    # account's 10 per file.
    batch_max_concurrency: int = setting("batchMaxConcurrency", 2, between(
        1, 10000, "1 to 10000 chunks scored at once (the Distributed Map's limit)"))
    # The batch function's reserved concurrency: every job together runs at most this many
    # workers, so bulk scoring never takes the API's share. Lambda refuses it unless the account
    # keeps its minimum unreserved (100 on a standard account), so a new account cannot set it.
    batch_reserved_concurrency: int | None = setting("batchReservedConcurrency", None, at_least(
        1, "1 or more workers for all batch jobs together, or null for none reserved"))
    batch_rows_per_chunk: int = setting("batchRowsPerChunk", ROWS_PER_CHUNK, between(
        1, 100_000, "1 to 100000 rows per worker invocation (it has 15 minutes)"))
    # Monitoring (docs/deploy.md, "Drift, the dashboard and shadowing"). X-Ray active tracing
    # on the inference function: tokenize and inference as subsegments.
    tracing: bool = setting("tracing", True)
    # The drift check: every driftWindowMinutes, PSI per dimension of that window against the
    # served run's reference profile; the alarm fires above driftPsiThreshold.
    drift_psi_threshold: float = setting("driftPsiThreshold", 0.2, Rule(
        lambda v: 0 < v <= 10, "a PSI above 0 (0.1 reads as a moderate shift, 0.25 a large one)"))
    drift_window_minutes: int = setting("driftWindowMinutes", DRIFT_WINDOW_DEFAULT, between(
        DRIFT_WINDOW_MIN, DRIFT_WINDOW_MAX,
        f"a whole number of minutes from {DRIFT_WINDOW_MIN} to {DRIFT_WINDOW_MAX}"))
    drift_min_predictions: int = setting(
        "driftMinPredictions", DRIFT_MIN_PREDICTIONS_DEFAULT, at_least(
            DRIFT_MIN_PREDICTIONS_MIN, "a whole number of predictions, 1 or more"))
    # A candidate run shadowed on live traffic (`python -m infra.release shadow <run-id>`): a
    # receiver function serves it, and shadowSample of the prediction requests reach it too.
    shadow_run: str | None = setting("shadowRun", None, Rule(
        lambda v: _PREFIX_PART_RE.match(v) and v not in (".", ".."),
        "a run id (letters, digits, . _ = -), or null for no shadow"))
    shadow_sample: float = setting("shadowSample", SHADOW_SAMPLE_DEFAULT, Rule(
        lambda v: SHADOW_SAMPLE_MIN < v <= SHADOW_SAMPLE_MAX,
        "a share of prediction requests, more than 0 up to 1"))
    # `promote` refuses a shadowed candidate that agreed with the live answers less than this.
    shadow_min_agreement: float = setting("shadowMinAgreement", 0.9, Rule(
        lambda v: 0 < v <= 1, "a share of predictions, more than 0 up to 1"))
    # fmt: on

    def __post_init__(self) -> None:
        # The function upper-cases it too; frozen, hence object.__setattr__.
        object.__setattr__(self, "log_level", self.log_level.upper())
        check_rules(self)
        self.check_opt_ins()
        self._check_model()
        self._check_release()
        if self.batch_reserved_concurrency is not None:
            check(
                self.batch_max_concurrency <= self.batch_reserved_concurrency,
                "batchMaxConcurrency",
                self.batch_max_concurrency,
                f"at most batchReservedConcurrency ({self.batch_reserved_concurrency}), or the "
                "job throttles itself; raise batchReservedConcurrency or lower it",
            )
        if self.reserved_concurrency is not None:
            check(
                self.provisioned_concurrency <= self.reserved_concurrency,
                "provisionedConcurrency",
                self.provisioned_concurrency,
                f"at most reservedConcurrency ({self.reserved_concurrency}); raise "
                "reservedConcurrency or lower provisionedConcurrency",
            )

    def _check_model(self) -> None:
        prefix = self.model_prefix.strip("/")
        location = self.model_location
        check(
            location.key == prefix or location.key.startswith(prefix + "/"),
            "modelUri",
            self.model_uri,
            f"a location under modelPrefix {prefix!r} (the only prefix the function may read):"
            f" {prefix}/latest.json, {prefix}/<run-id> or s3://<bucket>/{prefix}/<run-id>;"
            " or set modelPrefix to match",
        )

    def _check_release(self) -> None:
        check(
            self.traffic_shift == "off" or self.pinned_run is not None,
            "trafficShift",
            self.traffic_shift,
            f"'off' while modelUri follows {LATEST_POINTER} (a canary needs one run per version): "
            "pin a run with `python -m infra.release promote <run-id>`, or -c trafficShift=off",
        )

    @property
    def pinned_run(self) -> str | None:
        """The run id modelUri pins, or None when it follows latest.json."""
        key = self.model_location.key
        name = key.rsplit("/", 1)[-1]
        # The prefix itself is a runs root: the function follows its latest.json.
        return None if name == LATEST_POINTER or key == self.model_read_prefix else name

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
            check(
                scheme == "s3",
                "modelUri",
                uri,
                f"an S3 location, not {scheme}:// (the function reads bundles from S3): {how}",
            )
            bucket, _, key = rest.partition("/")
            check(
                is_bucket_name(bucket),
                "modelUri",
                uri,
                f"a valid bucket name ({BUCKET_NAME_RULE}): {how}",
            )
        key = key.strip("/")
        check(
            _is_key(key),
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
            # Always set, so the floor the alarm describes is the one the function counts.
            "CONFIDENCE_FLOOR": repr(self.confidence_floor),
            "MONITORING_NAMESPACE": self.monitoring_namespace,
        }
        if self.max_texts is not None:
            environment["MAX_TEXTS"] = str(self.max_texts)
        if self.max_chars is not None:
            environment["MAX_CHARS"] = str(self.max_chars)
        return environment

    def guarded_values(self) -> dict[str, str]:
        """The GUARDED settings as the stack outputs them (strings), by context key."""
        by_key = {f.metadata["key"]: getattr(self, f.name) for f in fields(self)}
        return {key: json.dumps(by_key[key]).strip('"') for key in GUARDED}

    @property
    def monitoring_namespace(self) -> str:
        """Where the function's aggregates, the drift figures and shadow comparisons go: one
        namespace per stack, so a dev and a prod stack in one account do not mix them."""
        return f"{self.stack_name}/Monitoring"

    def run_uri(self, run_id: str, artifacts_bucket_name: str) -> str:
        """A run of the model prefix, in the bucket modelUri reads from."""
        bucket = self.model_location.bucket or artifacts_bucket_name
        return f"s3://{bucket}/{self.model_read_prefix}/{run_id}"

    @property
    def log_retention(self) -> logs.RetentionDays:
        return logs.RetentionDays[RETENTION[self.log_retention_days]]

    @property
    def model_read_prefix(self) -> str:
        return self.model_prefix.strip("/")

    @classmethod
    def from_context(cls, node: Node) -> ServiceConfig:
        """Reads every key from the app's context (cdk.json, cdk.context.json, `-c`)."""
        return cls(**read_context(cls, node))


def _is_key(key: str) -> bool:
    """An S3 key (or prefix) with no empty, relative or unusual path parts."""
    parts = key.split("/")
    return bool(key) and all(_PREFIX_PART_RE.match(p) and p not in (".", "..") for p in parts)
