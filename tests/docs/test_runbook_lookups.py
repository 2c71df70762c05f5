"""The values the runbook reads back: every `jq .SentimentApi.<Output>` names an output of the
Outputs table (which tests/infra/test_infra_docs.py holds to the synthesized stacks), and the
bulk-scoring lines' shell pipeline turns an ETag into the job the batch function writes under."""

from __future__ import annotations

import re
import subprocess

import pytest

from function.batch.layout import job_id, job_prefix
from tests.docs.commands import DOCS


def _outputs_table() -> set[str]:
    doc = DOCS[0].read_text()
    table = doc[doc.index("### Outputs") : doc.index("## Why a REST API")]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Za-z0-9]+)`", row.split("|")[1])}


def test_every_output_the_docs_read_with_jq_is_in_the_outputs_table() -> None:
    read = {
        name for path in DOCS for name in re.findall(r"\.SentimentApi\.(\w+)", path.read_text())
    }
    assert {"ArtifactsBucketName", "ApiUrl", "ModelUri", "BatchStateMachineArn"} <= read
    assert read - _outputs_table() == set()


@pytest.mark.parametrize(
    "etag", ['"9b2cf535f27731c974343645a3985328"', '"d41d8cd98f00b204e9800998ecf8427e-12"']
)
def test_the_etag_pipeline_finds_the_batch_job(etag: str) -> None:
    """The head-object line's `| tr ... | cut ...`, run by the shell on the CLI's text output (the
    ETag in quotes; a multipart one ends in -<parts>), names the prefix the function writes to."""
    doc = DOCS[0].read_text()
    pipeline = re.search(r"--output text (\| tr .*?)\)", doc.replace("\\\n", " "), flags=re.S)
    assert pipeline
    done = subprocess.run(
        ["bash", "-c", f"echo '{etag}' {pipeline.group(1)}"],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = re.search(r"s3://\$BUCKET/(batch/out/reviews-\$ETAG/)_summary\.json", doc)
    assert summary
    documented = summary.group(1).replace("$ETAG", done.stdout.strip())
    assert documented == job_prefix(job_id("batch/in/reviews.csv", etag))
