"""The ring-pointer network of ring_pointer_workload.md."""
