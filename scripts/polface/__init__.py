"""polface: the library behind the workflow (pure functions; rules call it through scripts/)."""

__version__ = "0.1.0"
