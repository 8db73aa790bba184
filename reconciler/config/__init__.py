"""The config: typed model (model.py) and its loader (loader.py: load_config, check_config).

The loader reads YAML keeping positions (document.py), checks it against the JSON Schema
(schema.py) and across settings (checks.py), then builds the model (build.py). Template
placeholders live in one catalogue (templates.py), shared with the desired-state builder.
"""
