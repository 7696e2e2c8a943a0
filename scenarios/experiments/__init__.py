"""Experiments: async functions that run once, step by step, over a lab."""
