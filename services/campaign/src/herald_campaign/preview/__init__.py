"""The sample recipient the dashboard's template preview starts from."""
