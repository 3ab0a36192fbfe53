"""seilab.workflows stage."""
