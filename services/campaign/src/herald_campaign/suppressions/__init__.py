"""The tenant's suppression list (addresses that never receive campaign email)."""
