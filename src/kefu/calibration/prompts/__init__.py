"""The prompts `kefu tune` asks the LLM for customer-style questions with (package data)."""
