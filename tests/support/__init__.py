"""Test helpers: the app and its clients, acting as a user, row factories, a loopback receiver, a live server."""
