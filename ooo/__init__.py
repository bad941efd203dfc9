"""ooo: a social-aware out-of-office responder."""

__version__ = "0.1.0"
