"""The baseline HTTP scorer a user would write: Flask, one scikit-learn call per request, on waitress.

Same model as the agent (the embedded default, trained with the same seed on the same NAB features) and
the same waitress thread count as the agent's HTTP server, so only the design differs.
"""

from __future__ import annotations

import argparse

from flask import Flask, jsonify, request
from waitress import serve

from module.models import nab


def create_app(model_free: bool = False):
    """`model_free`: same route and JSON work, a constant score: the web stack's own ceiling."""
    model = None if model_free else nab.train_forest()
    app = Flask("naive")

    @app.post("/score")
    def score():
        msg = request.get_json(force=True)
        row = [[msg["machine"]["temperature"], msg["machine"]["pressure"],
                msg["ambient"]["temperature"], msg["ambient"]["humidity"]]]
        if model is None:
            return jsonify({"score": -0.5, "anomaly": False})
        value = float(model.score_samples(row)[0])
        return jsonify({"score": value, "anomaly": bool(value < model.offset_)})

    @app.get("/readyz")
    def readyz():
        return jsonify({"status": "ready"})

    return app


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.naive_flask")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090)
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--model-free", action="store_true", help="no model: measures Flask + waitress alone")
    args = p.parse_args()
    serve(create_app(args.model_free), host=args.host, port=args.port, threads=args.threads, ident="naive")


if __name__ == "__main__":
    main()
