"""Training: the engine, the queue on Ray, experiments, teaching, the curves and the command line."""

import os

# The app's own local Ray listens on 127.0.0.1 only, never on the machine's network address. Ray
# 2.60 turns a node address of 127.0.0.1 into the network one unless this switch (meant for
# single-machine Rays on Windows and macOS) is 0; it must be set before Ray is imported. A cluster
# joined through RAY_ADDRESS keeps the addresses its admin chose.
if not os.environ.get("RAY_ADDRESS"):
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
