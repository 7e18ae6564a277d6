"""Tocsin's version, in a module of its own so services need not import the package root."""
__version__ = "0.1.0"
