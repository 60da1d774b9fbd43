"""Activities: every side effect of a workflow, each idempotent, each calling the owning service."""
