"""Security checks on every variant: cdk-nag (AwsSolutions) with zero unsuppressed findings, and
cfn-lint with zero errors.

A finding that is not suppressed (with its reason, next to the resource) fails synth itself
(cdk.json turns on `annotationsInValidationReport`), so these also prove each variant synthesizes.
"""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

VARIANTS = ["default", "full", "iam", "api_logs", "no_api_logs", "release", "edge", "monitoring"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_unsuppressed_nag_errors(variant: str, request: pytest.FixtureRequest) -> None:
    synth: Any = request.getfixturevalue(variant)
    errors = Annotations.from_stack(synth.stack).find_error(
        "*", Match.string_like_regexp("AwsSolutions-.*")
    )
    assert errors == [], "\n".join(e.entry.data for e in errors)


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_unsuppressed_nag_warnings(variant: str, request: pytest.FixtureRequest) -> None:
    synth: Any = request.getfixturevalue(variant)
    warnings = Annotations.from_stack(synth.stack).find_warning(
        "*", Match.string_like_regexp("AwsSolutions-.*")
    )
    assert warnings == [], "\n".join(w.entry.data for w in warnings)


def test_nag_does_find_problems(app_builder: Any) -> None:
    """The checks are live: an unencrypted queue added to the stack is reported."""
    from aws_cdk import aws_sqs as sqs

    _, stack = app_builder({})
    sqs.Queue(stack, "Unencrypted", encryption=sqs.QueueEncryption.UNENCRYPTED)
    with pytest.raises(RuntimeError, match="AwsSolutions-SQS2"):
        Annotations.from_stack(stack)


@pytest.mark.parametrize("variant", VARIANTS)
def test_cfn_lint_finds_no_errors(variant: str, request: pytest.FixtureRequest) -> None:
    """The CLI test lints the default template on disk; this lints every variant."""
    import json

    from cfnlint.api import lint

    synth: Any = request.getfixturevalue(variant)
    matches = lint(json.dumps(synth.template.to_json()), regions=["us-east-1", "eu-west-1"])
    errors = [str(m) for m in matches if m.rule.id.startswith("E")]
    assert errors == []
