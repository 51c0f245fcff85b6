"""Campaigns: definition, recipients, send and its fan-out onto the email-jobs queue, status transitions."""
