"""telemetry: a reusable NVML sampler that records GPU samples into any vrx run (library, no entry point)."""
