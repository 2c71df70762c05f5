"""What S3 accepts as a bucket name, with no dependencies beyond the standard library.

`contract/s3_store.py` checks every s3:// URI with it, and `infra/config.py` checks the modelUri
context with it at synth (the CDK app imports no boto3), so both refuse the same names.
"""

from __future__ import annotations

import re

# 3-63 characters: lower-case letters, digits, dots and hyphens, starting and ending with a
# letter or digit; S3 refuses two adjacent dots as well.
_BUCKET_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
BUCKET_NAME_RULE = "3-63 characters: lower-case letters, digits, dots and hyphens"


def is_bucket_name(name: str) -> bool:
    return bool(_BUCKET_NAME_RE.match(name)) and ".." not in name
