"""The answer ladder, chat model backends, prompts and model files."""
