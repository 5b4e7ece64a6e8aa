"""Event -> star-schema rows: dimension keys, fact rows, rollup deltas."""
