"""plots: one PNG per metric, derived by replay, and `vrx plot`. See docs/plots.md."""
