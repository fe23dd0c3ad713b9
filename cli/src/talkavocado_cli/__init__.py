"""TalkAvocado cli."""
