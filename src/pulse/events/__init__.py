"""Decode and validate: raw Kafka bytes -> Event | Rejection."""
