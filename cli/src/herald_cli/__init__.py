"""herald: the command-line client for Herald (dev stack, demo, tokens) and a small typed REST client."""
