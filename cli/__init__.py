"""The `assocflow` command: the services (`assocflow api`, `assocflow worker`) and operators'
tools (tokens, request decisions, migrations)."""
