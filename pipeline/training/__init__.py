"""Training and fitting of the project's own models from a face data folder."""
