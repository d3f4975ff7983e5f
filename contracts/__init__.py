"""The schema-driven contract suite: the same checks for the simulator and the live APIs."""
