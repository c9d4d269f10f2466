"""query: each run's metrics.parquet, derived by replay, and `vrx query` (SQL over runs). See docs/query.md."""
