"""QR codes for short links (segno), tagged so that scans arrive with ``trigger=qr``."""
