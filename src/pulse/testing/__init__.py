"""Test helpers shipped with pulse (fixture builders that need no running services)."""
