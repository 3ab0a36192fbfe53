"""seilab.learning stage."""
