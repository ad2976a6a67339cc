"""The SDK client's output sender, against the real SDK and broker: handed over without waiting,
acknowledged on the SDK's callback thread; and the public, blocking call when the SDK's internals move."""

from __future__ import annotations

import threading

from azure.iot.device import IoTHubModuleClient, Message

from module.edge import client as sdk


def test_outputs_are_acknowledged_on_the_sdks_callback_and_arrive_in_order(hub, broker):
    client = IoTHubModuleClient.create_from_connection_string(
        hub.connection_string(), server_verification_cert=broker.ca_file.read_text())
    client.connect()
    try:
        send = sdk.output_sender(client)
        answers: list[tuple[int, object, str]] = []
        all_answered = threading.Event()

        def done_for(i):
            def done(error=None, **_):
                answers.append((i, error, threading.current_thread().name))
                if len(answers) == 50:
                    all_answered.set()
            return done

        for i in range(50):
            send(Message(f'{{"i":{i}}}', content_type="application/json", content_encoding="utf-8"),
                 "scores", done_for(i))
        assert all_answered.wait(30)
        assert all(error is None for _, error, _ in answers)
        assert threading.current_thread().name not in {name for _, _, name in answers}
        assert [o.json()["i"] for o in hub.wait_outputs("scores", 50)] == list(range(50))
    finally:
        client.shutdown()


class PublicOnlyClient:
    """An SDK whose pipeline is no longer where 2.14.0 keeps it: only the public call is left."""

    def __init__(self):
        self.sent: list[tuple[object, str]] = []

    def send_message_to_output(self, message, output):
        self.sent.append((message, output))


def test_without_the_pipeline_it_falls_back_to_the_public_blocking_send(caplog):
    client = PublicOnlyClient()
    send = sdk.output_sender(client)
    answered = []
    send("m", "scores", lambda error=None: answered.append(error))
    assert client.sent == [("m", "scores")] and answered == [None]
    assert any("SDK internals changed" in r.getMessage() for r in caplog.records)
