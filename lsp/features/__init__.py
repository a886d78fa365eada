"""One module per language-server feature, wired by `server.py`."""
