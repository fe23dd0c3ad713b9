"""Pure core of the orchestrator: the ASL transition function."""
