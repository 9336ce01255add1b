"""The transactional store: engine and session factories, unit of work, migrations."""
