"""Events, merge patch, clock, timepoints, schema and the reference replay."""
