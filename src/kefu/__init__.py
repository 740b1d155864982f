"""kefu (客服): a self-hosted bilingual customer-service agent for small shops."""

__version__ = "0.2.0"
