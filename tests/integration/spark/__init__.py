"""Spark engine tests (real Spark, Kafka and PostgreSQL)."""
