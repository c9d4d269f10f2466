"""assoc_eval: the assoc-byte capability eval (ORIGINS 2.6) on the ring-pointer model, as events."""
