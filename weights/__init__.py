"""The project's own trained and fitted weights, each beside a JSON card (see pipeline.weights)."""
