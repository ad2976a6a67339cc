"""Benchmarks: the agent beside the baseline a user would otherwise build, same machine, same run."""
