"""assocflow's use cases: one function per thing a caller can do, for every edge (the JSON API,
the console, the CLI). They own transactions and Temporal calls; the rules they apply live in
domain/, the SQL in store/. Failures are `Failure`s with a stable code that each edge renders its
own way (application/errors.py)."""
