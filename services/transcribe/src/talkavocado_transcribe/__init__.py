"""TalkAvocado transcribe."""
