"""TalkAvocado orchestrator."""
