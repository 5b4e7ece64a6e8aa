"""Serving: dashboards and the terminal live view."""
