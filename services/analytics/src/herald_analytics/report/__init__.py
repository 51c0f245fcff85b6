"""The delivery report: who got a campaign and who didn't, per recipient, with the SES Send events set against it."""
