"""assocflow's PostgreSQL store: the connection pool, the migrations and one module of queries per
table family. Every query that serves a caller takes the caller's scope as an argument."""
