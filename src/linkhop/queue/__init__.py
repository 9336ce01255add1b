"""The click queue: protocol plus implementations (local spool, later Redis Streams)."""
