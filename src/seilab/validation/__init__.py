"""seilab.validation stage."""
