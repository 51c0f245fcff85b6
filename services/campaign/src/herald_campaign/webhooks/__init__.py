"""Outbound webhooks: endpoints a tenant registers, and the signed delivery of email and campaign events to them."""
