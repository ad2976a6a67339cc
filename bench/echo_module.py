"""The SDK's own ceiling on the edgeHub path: a module that echoes each input to output "scores".

Built the way the SDK's samples build a module (IoTHubModuleClient, on_message_received, one
send_message_to_output per input), with TCP_NODELAY on its socket like the agent, and nothing else: no
parsing, no model. The edgeHub section measures the agent against it in the same run, through the same
stand-in and mosquitto TLS, one broker per module. `python -m bench.echo_module` with
EdgeHubConnectionString and EdgeModuleCACertificateFile set.
"""

from __future__ import annotations

import signal
import threading

from azure.iot.device import IoTHubModuleClient, Message

from module.edge.client import keep_tcp_nodelay


def main() -> None:
    client = IoTHubModuleClient.create_from_edge_environment()
    client.connect()
    keep_tcp_nodelay(client)  # as the agent does: otherwise each reply waits for a delayed ACK

    def on_message(message) -> None:
        out = Message(message.data, content_encoding="utf-8", content_type="application/json")
        out.correlation_id = message.correlation_id or message.message_id
        client.send_message_to_output(out, "scores")

    client.on_message_received = on_message
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.2):  # a timed wait: SIGTERM may land on another thread (module/__main__.py)
        pass
    client.shutdown()


if __name__ == "__main__":
    main()
