"""Bundle manifests: FNV-1a 64 hashing at disk speed and safe resolution of manifest member paths."""
