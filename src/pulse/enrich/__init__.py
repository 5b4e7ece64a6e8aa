"""Enrichers, one module each, pure and free of clients."""
