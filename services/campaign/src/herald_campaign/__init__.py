"""Herald campaign service: campaigns, recipients, send, pause/resume/cancel, suppressions, unsubscribe."""
