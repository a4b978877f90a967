"""Output a person reads: number formatting, terminal tables, charts and generated docs."""
