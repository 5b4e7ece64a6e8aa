"""Event sources: Kafka, replay files and the synthetic traffic generator."""
