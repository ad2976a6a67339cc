"""Azure ML IoT Edge scoring script, in the shape of the seed's iot_score.py (runs unchanged in the agent).

init() loads model.pkl with joblib from where Azure ML puts it; run(input_str) scores one
SimulatedTemperatureSensor message and returns it with "anomaly": true/false added. The seed built a
pandas DataFrame; this copy builds the row with numpy, which the runtime image already has.
"""

import json
import os

import joblib
import numpy as np

try:
    from azureml.core.model import Model
except ImportError:  # neither the Azure ML SDK nor the agent's stand-in: read AZUREML_MODEL_DIR directly
    Model = None


def init():
    global model
    if Model is not None:
        model_path = Model.get_model_path("model.pkl")
    else:
        model_path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model.pkl")
    # deserialize the model file back into a sklearn model
    model = joblib.load(model_path)


def run(input_str):
    input_json = json.loads(input_str)
    row = np.array(
        [
            [
                input_json["machine"]["temperature"],
                input_json["machine"]["pressure"],
                input_json["ambient"]["temperature"],
                input_json["ambient"]["humidity"],
            ]
        ]
    )
    pred = model.predict(row)  # IsolationForest: -1 for an outlier, 1 for an inlier
    input_json["anomaly"] = bool(pred[0] == -1)
    return [json.dumps(input_json)]
