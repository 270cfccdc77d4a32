"""wijkbrug: the consent-aware data bridge between the partners of Samen voor Overvecht."""

__version__ = "0.1.0"
