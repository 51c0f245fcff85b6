"""Sender authentication: may a campaign be sent from its from-address's domain (SES identity, SPF, DKIM, DMARC)."""
