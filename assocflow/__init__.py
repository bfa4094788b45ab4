"""assocflow runtime glue shared by the API, the worker and the tools: settings and connections."""
