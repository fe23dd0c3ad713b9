"""TalkAvocado render."""
