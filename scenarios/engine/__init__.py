"""The scenario engine: the state-machine base, the runner (budgets, replay), run records, reports, the catalogue."""
