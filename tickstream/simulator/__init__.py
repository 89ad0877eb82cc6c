"""The simulator: realistic campaign traffic through the real webhooks (``tickstream simulate``) or
straight onto Kafka (the worker's tests and benchmark), and the oracle that counts it from scratch.
"""
