"""Unit tests of the HTTP collector (no Kafka needed)."""
