"""The collector: Segment-compatible HTTP tracking API, durable journal, fold."""
