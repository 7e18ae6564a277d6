"""Test helpers shared by every test file: a loopback receiver, a live server, factories."""
