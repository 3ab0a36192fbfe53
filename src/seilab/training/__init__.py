"""seilab.training stage."""
