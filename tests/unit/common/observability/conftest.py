from tests.support.tracing import spans  # noqa: F401
