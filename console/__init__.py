"""The console: server-rendered pages for the people of partners and customers, on the same
application layer as the API (no rule or SQL here), under /console."""
