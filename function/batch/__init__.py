"""Bulk scoring: a review file in S3 scored in chunks by the serving image's second handler
(`function.batch.handler.handler`), fanned out by the stack's Step Functions Distributed Map."""
