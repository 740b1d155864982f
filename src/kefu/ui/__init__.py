"""Where people meet kefu: the Gradio chat page and the HTTP API, both reading agent events."""
