"""What an operator reads in `iotedge logs` when the broker goes away and comes back: one warning with
the reason per dropped connection, no "Unable to handle." and no exception printed as a Python list."""

from __future__ import annotations

import time


def test_a_broker_drop_reads_as_one_warning_and_the_reconnect(hub, broker, start_agent):
    agent = start_agent()
    broker.stop()
    time.sleep(2.0)
    broker.start()
    hub.wait_connected()
    agent.wait_connected(timeout=60)

    lines = agent.logs()
    sdk = [line for line in lines if line["logger"].startswith("azure.iot.device")]
    assert not [line for line in sdk if "Unable to handle" in line["msg"] or line["msg"].startswith("[")]
    dropped = [line for line in sdk if line["msg"] == "edgeHub connection dropped; the SDK reconnects on its own"]
    assert len(dropped) == 1
    assert dropped[0]["level"] == "warning" and dropped[0]["error"].startswith("ConnectionDroppedError")
    assert not [line for line in lines if line["level"] == "error"]
    assert any(line["msg"] == "edgeHub connection changed" for line in lines)
