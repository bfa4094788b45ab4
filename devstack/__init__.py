"""The local stack behind `make run` and the test suite: embedded PostgreSQL, the Temporal dev
server and test server from PyPI, and the demo data."""
