"""waitress's own refusals (413 from the headers alone, malformed requests) as JSON, like the app's errors."""

from __future__ import annotations

import json

from waitress.channel import HTTPChannel
from waitress.task import ErrorTask


class JsonErrorTask(ErrorTask):
    """waitress's own refusals (413 from the headers alone, malformed requests) as JSON, like the app's."""

    def execute(self):
        error = self.request.error
        message = f"{error.reason}: {error.body}"
        if error.code == 413:  # waitress counts its own limit one over ours (see HttpServer)
            limit = self.channel.server.adj.max_request_body_size - 1
            message = f"request body larger than {limit} bytes (http.max_body_bytes)"
        body = json.dumps({"error": message}).encode("utf-8")
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    error_task_class = JsonErrorTask
