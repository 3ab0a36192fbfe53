"""seilab.report stage."""
