"""Sequencing: refresh, plan and apply, driving the adapters (state, API) around the pure
planner."""
