"""seilab.analysis stage."""
