"""Models the agent carries itself, trained at start: the SimulatedTemperatureSensor default and the NAB forest."""
