"""The staff's pages' texts (admin page, inbox) in Chinese and English (en.yaml, zh.yaml),
read with kefu.agent.prompts.prompts(lang, "kefu.ui.texts")."""
