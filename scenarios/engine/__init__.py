"""The scenario engine: the state-machine base, the runner with budgets and replay, run records, reports and the catalogue."""
