"""The baseline IoT Edge module a user would write from the Azure ML sample: SDK defaults, one
scikit-learn call per message in the input handler, one output per message.

The model is the agent's embedded default (same seed, same NAB features), so only the design differs:
no TCP_NODELAY on the SDK's socket, no batching, no compiled scorer. Run as a device would run it:
`python -m bench.naive_module` with EdgeHubConnectionString and EdgeModuleCACertificateFile set.
"""

from __future__ import annotations

import json
import signal
import threading

from azure.iot.device import IoTHubModuleClient, Message

from module.models import nab

FIELDS = (("machine", "temperature"), ("machine", "pressure"), ("ambient", "temperature"), ("ambient", "humidity"))


def init():
    """The sample's init(): load the model once."""
    return nab.train_forest()


def run(model, data: dict) -> dict:
    """The sample's run(): score the message and add the verdict to it."""
    row = [[data[a][b] for a, b in FIELDS]]
    score = float(model.score_samples(row)[0])
    return {**data, "score": score, "anomaly": bool(score < model.offset_)}


def main() -> None:
    model = init()
    client = IoTHubModuleClient.create_from_edge_environment()
    client.connect()

    def on_message(message) -> None:
        try:
            result = run(model, json.loads(message.data))
        except Exception as exc:  # the sample would crash the handler; answer so nothing is silently lost
            result = {"error": repr(exc)}
        client.send_message_to_output(Message(json.dumps(result)), "scores")

    client.on_message_received = on_message
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.2):  # a timed wait: SIGTERM may land on another thread (module/__main__.py)
        pass
    client.shutdown()


if __name__ == "__main__":
    main()
