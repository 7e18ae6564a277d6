"""Logic without Flask request objects, shared by pages, the API and the scheduler."""
