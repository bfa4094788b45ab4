"""assocflow's domain: the types and the rules of the association lifecycle, free of I/O.

Each rule lives in one module here: `checks` (the account check), `limits` (the request limit
window), `decisions` (who may decide and what a timeout means). The workflow, the activities and
the API all call these functions instead of restating the rules.
"""
