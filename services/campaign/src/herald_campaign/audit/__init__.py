"""The tenant's audit trail: which state-changing calls were made, by whom, with what outcome (read-only here)."""
