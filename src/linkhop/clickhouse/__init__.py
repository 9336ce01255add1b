"""clickhouse."""
