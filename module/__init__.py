"""Edge model agent: receives only the model, verifies it, hot-swaps it and serves anomaly scores."""

__version__ = "0.1.0"
