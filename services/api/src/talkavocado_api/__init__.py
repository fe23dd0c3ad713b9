"""TalkAvocado REST API."""
