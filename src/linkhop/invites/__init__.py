"""Invitations to join an organisation: single-use, expiring tokens sent to an email address."""
