"""A board's wiring as data: the parts library (lab files' ``[[boards.parts]]``), quantities, Wokwi diagrams."""
