"""Storage: the only package that speaks SQL. `db` holds the connection and the transaction helper, `schema`
the numbered schema steps; one module per table group (requests, accounts, audit, vectors, runs), and the
writer lease among server processes (`lease`)."""
