"""seilab.simulation stage."""
