"""A seeded re-implementation of Microsoft's SimulatedTemperatureSensor, the module users route in first.

Its published behaviour (azureiotedge-simulated-temperature-sensor, Program.cs): the machine temperature
starts at 21 and climbs by U(-0.25, 1.25) per message while it is at most 100, then wanders by
U(-0.5, 0.5); the machine pressure follows the temperature linearly, 21..100 degrees onto 1..10; the
ambient temperature is 21 + U(-0.5, 0.5); the humidity an integer in 24..26; one message every 5 s,
500 by default. The embedded default model (embedded.py) is trained on runs of this, so that a normal
run of the real module is normal to it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

TEMPERATURE_START = 21.0
TEMPERATURE_MAX = 100.0
PRESSURE_MIN, PRESSURE_MAX = 1.0, 10.0
PRESSURE_PER_DEGREE = (PRESSURE_MAX - PRESSURE_MIN) / (TEMPERATURE_MAX - TEMPERATURE_START)
AMBIENT_TEMPERATURE = 21.0
MESSAGES = 500
INTERVAL_S = 5.0
START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def pressure_for(temperature):
    """The pressure the sensor reports for a machine temperature (its linear relation)."""
    return PRESSURE_MIN + (temperature - TEMPERATURE_START) * PRESSURE_PER_DEGREE


def temperatures(n: int, rng: np.random.Generator) -> np.ndarray:
    out = np.empty(n, dtype=np.float64)
    current = TEMPERATURE_START
    for i in range(n):
        # The sensor adds the step before it sends, so even its first message is a step away from 21.
        current += rng.uniform(-0.5, 0.5) if current > TEMPERATURE_MAX else rng.uniform(-0.25, 1.25)
        out[i] = current
    return out


def run(n: int = MESSAGES, seed: int = 0, start: datetime = START) -> list[dict]:
    """One run of the sensor: n messages as it sends them (JSON-ready dicts), the same for the same seed."""
    rng = np.random.default_rng(seed)
    machine = temperatures(n, rng)
    ambient = AMBIENT_TEMPERATURE + rng.uniform(-0.5, 0.5, size=n)
    humidity = rng.integers(24, 27, size=n)
    return [
        message(float(machine[i]), float(pressure_for(machine[i])), float(ambient[i]), int(humidity[i]),
                start + timedelta(seconds=INTERVAL_S * i))
        for i in range(n)
    ]


def message(temperature: float, pressure: float, ambient: float, humidity: int, when: datetime) -> dict:
    return {
        "machine": {"temperature": temperature, "pressure": pressure},
        "ambient": {"temperature": ambient, "humidity": humidity},
        "timeCreated": when.strftime("%Y-%m-%dT%H:%M:%S.%f0Z"),
    }


def main(argv: list[str] | None = None) -> None:
    """Print one run as JSON lines, the messages a shell loop can send (the README's hot-swap example)."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m module.models.simulated_sensor", description=main.__doc__)
    parser.add_argument("--messages", type=int, default=MESSAGES, help="how many (the real module's default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for m in run(args.messages, args.seed):
        print(json.dumps(m), flush=True)


if __name__ == "__main__":
    main()
