"""Widen the insert dedup window of the existing tables from 1000 to 10 000 blocks.

A replayed batch is only dropped while its token is among the table's last N insert blocks. At
1000, ten workers inserting twice a second each forget a token after ~50 s, i.e. before another
worker claims a dead worker's batch (``click_stream_claim_idle_seconds`` = 60 s) and re-inserts
it. 10 000 blocks keeps ~8 minutes at that rate; the hashes cost a few hundred KB per table.
ClickHouse also forgets tokens after ``non_replicated_deduplication_window_seconds`` (1 week).
"""

UP: list[str] = [
    "ALTER TABLE $db.clicks MODIFY SETTING non_replicated_deduplication_window = 10000",
    "ALTER TABLE $db.clicks_hourly MODIFY SETTING non_replicated_deduplication_window = 10000",
]

DOWN: list[str] = [
    "ALTER TABLE $db.clicks_hourly MODIFY SETTING non_replicated_deduplication_window = 1000",
    "ALTER TABLE $db.clicks MODIFY SETTING non_replicated_deduplication_window = 1000",
]
