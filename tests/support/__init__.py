"""Helpers shared by tests: the embedded broker, Kafka read/write helpers, jobs."""
