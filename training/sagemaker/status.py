"""Follows a SageMaker training job to its end: status changes and its CloudWatch log lines, then
JobFailedError (exit 1, with SageMaker's failure reason) when it did not complete."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from contract.exit_codes import CommandExit

log = logging.getLogger("training.sagemaker.launch")
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
TERMINAL = ("Completed", "Failed", "Stopped")


class JobFailedError(CommandExit):
    """The training job failed or was stopped; the message has SageMaker's reason."""


def sagemaker_client(region: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 5, "mode": "standard"})
    return boto3.client("sagemaker", region_name=region, config=config)


class LogTail:
    """Prints (through the log) what the job's CloudWatch log streams gained since last time."""

    def __init__(self, client: Any, job_name: str) -> None:
        self.client = client
        self.job_name = job_name
        self.tokens: dict[str, str] = {}
        self.enabled = True

    def drain(self) -> None:
        from botocore.exceptions import ClientError

        if not self.enabled:
            return
        try:
            pages = self.client.get_paginator("describe_log_streams").paginate(
                logGroupName=LOG_GROUP, logStreamNamePrefix=f"{self.job_name}/"
            )
            streams = [s["logStreamName"] for page in pages for s in page["logStreams"]]
            for stream in sorted(streams):
                self._drain_stream(stream)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return  # the job has not logged anything yet
            log.warning("stopped reading the job's logs (status is still followed): %s", exc)
            self.enabled = False

    def _drain_stream(self, stream: str) -> None:
        short = stream.removeprefix(f"{self.job_name}/")
        while True:
            kwargs: dict[str, Any] = {
                "logGroupName": LOG_GROUP,
                "logStreamName": stream,
                "startFromHead": True,
            }
            if stream in self.tokens:
                kwargs["nextToken"] = self.tokens[stream]
            page = self.client.get_log_events(**kwargs)
            for event in page["events"]:
                log.info("[%s] %s", short, event["message"].rstrip())
            self.tokens[stream] = page["nextForwardToken"]
            if not page["events"]:
                return


def follow(
    region: str, job_name: str, poll_seconds: float, sleep: Callable[[float], None] = time.sleep
) -> None:
    """Follows the job until it ends; raises JobFailedError when it failed or was stopped."""
    import boto3

    sagemaker = sagemaker_client(region)
    logs = LogTail(boto3.client("logs", region_name=region), job_name)
    seen: tuple[str, str] | None = None
    while True:
        job = sagemaker.describe_training_job(TrainingJobName=job_name)
        status = job["TrainingJobStatus"]
        state = (status, job.get("SecondaryStatus", ""))
        if state != seen:
            log.info("training job %s: %s (%s)", job_name, *state)
            seen = state
        logs.drain()
        if status in TERMINAL:
            break
        sleep(poll_seconds)
    if status == "Completed":
        log.info("training job %s completed", job_name)
        return
    reason = job.get("FailureReason", "SageMaker gave no reason")
    raise JobFailedError(f"training job {job_name} {status.lower()}: {reason}")
