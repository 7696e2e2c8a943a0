"""Property scenarios: Hypothesis state machines over a lab, with fault injection and invariants."""
