"""Real servers and peers the tests start themselves: all on 127.0.0.x, all stopped by the tests."""
