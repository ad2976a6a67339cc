"""The local HTTP API: a thin Flask layer over the scoring core, served by waitress."""
