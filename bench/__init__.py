"""linkhop's benchmark harness: ``python -m bench [redirect|ingest|query|api|all] [--quick]``."""
