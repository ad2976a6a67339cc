"""Features that travel with the model: a spec of columns over per-partition streaming windows.

The API (stable; other branches build on it):

  parse_spec(document) -> FeatureSpec
      document: a dict as read from YAML or JSON (or a manifest's "features"). Raises SpecError (a
      SettingsError/ValueError) whose message names the column. Pure: no I/O, no state.
      FeatureSpec: .columns, .width, .names, .paths, .partition, .time, .document (canonical dict, what
      the manifest holds), .digest (sha256 of the canonical JSON), .stateful, .describe()
  load_spec(path) -> FeatureSpec          a YAML or JSON file
  training_matrix(spec, source, partition="offline", times=None) -> TrainingMatrix(X, warm, partitions)
      source: CSV path, numpy array (one column per spec.paths), or a list of messages. Streams the
      messages through a fresh FeatureState: X rows are bit for bit what serving computes.
  FeatureState(max_partitions=1_000, idle_ttl_s=86_400)
      .require(spec) / .release(spec)     keep history for a spec (active or incoming)
      .update(spec, key, message, arrival=None) -> Row(values, warm)   one call per message
      .partitions, .dropped, .out_of_order, .describe()
  partition_key(spec, message, sender=None, headers=None) -> str
  snapshot.save(state, path, owner) / snapshot.load(state, path, owner) -> bool

docs/features.md documents the spec language, the warm-up rule and the state's bounds.
"""

from .errors import MessageError, SpecError
from .loading import load_spec
from .messages import partition_key
from .offline import TrainingMatrix, training_matrix
from .spec import FeatureSpec, parse_spec
from .state import FeatureState, Row

__all__ = ["FeatureSpec", "FeatureState", "MessageError", "Row", "SpecError", "TrainingMatrix",
           "load_spec", "parse_spec", "partition_key", "training_matrix"]
