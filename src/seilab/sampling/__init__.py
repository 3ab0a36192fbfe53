"""seilab.sampling stage."""
