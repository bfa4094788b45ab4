"""Webhooks per the Standard Webhooks spec: endpoint URLs that are safe to call, signing secrets
kept encrypted, and the relay that delivers the outbox with retries, off the decision path."""
