"""Local infrastructure for development, tests and benchmarks: a KRaft Kafka broker and a private
PostgreSQL cluster, each in a directory of its own, bound to loopback on free ports.

The test fixtures, the benchmarks and ``tickstream infra up`` share this code, so what the tests
run against is exactly what a developer gets. None of it is in the production image.
"""
