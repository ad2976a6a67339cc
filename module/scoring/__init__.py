"""Scoring: telemetry -> features -> micro-batcher -> the active model -> results."""
