"""TalkAvocado audio."""
