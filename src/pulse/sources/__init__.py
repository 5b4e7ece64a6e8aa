"""Event sources: the Kafka consumer, and replay files sent to Kafka byte for byte."""
