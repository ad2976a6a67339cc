"""Models the agent carries itself: the embedded default, trained at start from bundled NAB data."""
