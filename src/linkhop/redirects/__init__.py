"""redirects."""
