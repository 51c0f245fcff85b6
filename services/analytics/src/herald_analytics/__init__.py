"""Herald analytics: SES events in, trustworthy campaign statistics and suppressions out (flow steps 19–24)."""
