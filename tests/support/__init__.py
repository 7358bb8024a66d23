"""Test helpers other test modules import: the local OpenAI-compatible server."""
