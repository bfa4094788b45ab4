"""The console's pages, one module per screen of the source document."""
