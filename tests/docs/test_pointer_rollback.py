"""docs/deploy.md step 6, serving `models/latest.json`: on the versioned bucket, the documented
`list-object-versions` then `copy-object --copy-source "$BUCKET/models/latest.json?versionId=<id>"`
puts the earlier pointer back. Run through botocore (what the AWS CLI calls) on moto's S3 server,
with the copy source given as the same string the CLI passes."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.docs.commands import DOCS


def test_copying_the_earlier_pointer_version_over_it_restores_it(s3: Any) -> None:
    client, bucket = s3
    doc = DOCS[0].read_text()
    source = re.search(r'--copy-source "\$BUCKET/(models/latest\.json\?versionId=)<id>"', doc)
    assert source and "aws s3api list-object-versions --bucket" in doc
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    key = "models/latest.json"
    for run in ("run-good", "run-bad"):
        client.put_object(Bucket=bucket, Key=key, Body=json.dumps({"run_id": run}).encode())

    versions = client.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]
    earlier = next(v for v in versions if not v["IsLatest"])["VersionId"]
    client.copy_object(Bucket=bucket, Key=key, CopySource=f"{bucket}/{source.group(1)}{earlier}")

    served = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert served["run_id"] == "run-good"
    assert len(client.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]) == 3
