"""Recipients of a campaign by state, read from the delivery ledger (for the UI's drill-down lists)."""
