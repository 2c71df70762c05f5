"""The batch handler's one error type: a step that cannot go on, with a message naming the fix."""


class BatchError(Exception):
    """Raised out of a step: Step Functions records it (and retries the step where it may)."""
