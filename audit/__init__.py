"""Append-only, hash-chained audit log of data access and decisions."""
