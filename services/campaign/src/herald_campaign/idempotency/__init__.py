"""`Idempotency-Key` on the campaign service's creating POST routes (README "Idempotency keys")."""
