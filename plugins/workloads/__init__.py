"""workloads: workload_schema_v1 specs and the ring-pointer model (library, no entry point)."""
