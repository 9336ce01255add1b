"""Numbered ClickHouse schema migrations, applied forwards and backwards by ``runner.py``.

Each module is named ``NNNN_slug.py`` (numbers start at 0001 and have no gaps) and defines two
lists of SQL statements, run in order:

- ``UP``: moves the schema from version N-1 to N. Statements are idempotent (``IF NOT EXISTS``)
  so a migration that failed half-way can simply be run again.
- ``DOWN``: moves it back from N to N-1 (``IF EXISTS``), and loses the data it drops.

The only placeholder is ``$db``, the database name from settings, substituted after an identifier
check. Nothing from a request ever reaches these statements. Comment every engine, ORDER BY,
PARTITION BY and TTL choice in the SQL itself: the DDL is read far more often than it is written.
"""
