"""Benchmarks: ``python -m tickstream.bench.<name>`` starts what it needs and prints figures."""
