"""BCX: crypto-exchange prices recorded into Redis and served to charts."""

__version__ = "0.1.0"
