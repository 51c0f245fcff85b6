"""Public unsubscribe: the confirmation page and RFC 8058 one-click unsubscribe."""
