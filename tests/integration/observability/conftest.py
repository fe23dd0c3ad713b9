from tests.support.broker import kafka, kafka_bootstrap, topics  # noqa: F401
from tests.support.tracing import spans  # noqa: F401
