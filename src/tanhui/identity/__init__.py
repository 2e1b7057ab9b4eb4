"""Organisations, their users and API keys, and how they prove who they are."""
