"""Provider and bank integrations: what comes from outside (signed webhooks, statements)."""
