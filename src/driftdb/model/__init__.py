"""The model: events, documents and their checks, merge patch, the replay rule, time points,
the retention horizon, schema, clock. Imports only the standard library and `errors`."""
