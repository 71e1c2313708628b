"""Benchmarks: cold start, latency, package size, cost and accuracy of the serving candidates."""
