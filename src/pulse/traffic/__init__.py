"""Synthetic Glamira traffic for demos, tests and benchmarks: the generator, its tables, and sending it to Kafka."""
