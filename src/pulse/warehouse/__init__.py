"""PostgreSQL warehouse: migrations, the batch loader and the KPI queries."""
