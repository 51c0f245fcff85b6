"""The tenant's sending reputation as the reputation guard last judged it (`GET /reputation`)."""
