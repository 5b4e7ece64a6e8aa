"""pulse: real-time user-behaviour analytics pipeline."""
