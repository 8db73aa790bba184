"""The config: typed model (model.py), loader with located errors (loader.py)."""
