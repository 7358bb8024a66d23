"""Dealcast: turn CRM deal exports into a cash forecast a finance team can trust."""

__version__ = "0.1.0"
