"""linkhop: enterprise link management."""
