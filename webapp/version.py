"""Tocsin's version, in a module of its own so services (the user-agent) and templates can read
it without importing the app factory."""
__version__ = "0.1.0"
