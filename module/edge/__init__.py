"""The IoT Edge side: the SDK module client, input/output routes, direct methods, upstream policy."""
