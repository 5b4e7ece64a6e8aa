"""The local development stack: Kafka and PostgreSQL (plus Prometheus and Superset) run from a PULSE_HOME.

manager (up, down, status as one unit) on top of: broker (the Kafka process) and topics (its client side);
cluster (the PostgreSQL server), roles (pulse's roles) and credentials (role URLs, the password file);
java, kafka and spark (Java and the jar sets fetched with Maven); files and proc (private files, ports, logs).
"""
