"""The assocflow server: the process that serves the JSON API (`api/`) and the console
(`console/`), siblings over the use cases (`application/`). `server.app.create_app` is the
composition root: the pool, the Temporal gateway, the services, the middleware and both edges."""
