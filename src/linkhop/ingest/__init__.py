"""Click ingestion: raw events off the click queue, enriched, into ClickHouse effectively once."""
