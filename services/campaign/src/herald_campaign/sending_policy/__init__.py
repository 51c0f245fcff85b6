"""The tenant's sending policy: per-provider rate limits and the warm-up ramp (admin)."""
