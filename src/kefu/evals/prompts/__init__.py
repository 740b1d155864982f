"""The LLM judge's rubric (package data)."""
