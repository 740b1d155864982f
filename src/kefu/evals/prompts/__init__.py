"""The LLM judge's rubric and the paraphrase prompt of `kefu tune` (package data)."""
