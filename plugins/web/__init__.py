"""web: `vrx serve`, a live read-only local web view of runs. See docs/web.md."""
