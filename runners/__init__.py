"""Runners: what the agent does with a claimed job, one module per target type.

See base.py for the lifecycle every runner follows and registry.py for how the
agent finds one by name.
"""
