"""The project's own latent face model: shape and shape-free texture PCA with a gender direction."""
