"""Local Kafka + PostgreSQL lifecycle for development, tests and the demo."""
