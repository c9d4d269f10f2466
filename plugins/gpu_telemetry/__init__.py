"""gpu_telemetry: GPU samples (NVML) as events, and their summary derived for any run."""
