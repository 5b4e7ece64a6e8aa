"""Streaming engines: they own I/O (sources, sinks, offsets, retries) around the pure core."""
