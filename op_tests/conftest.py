"""Suite-wide settings, applied before any test module imports torch."""

import gc
import os

# The emulator runs each AI core on a thread of its own. OpenMP's default wait policy keeps torch's
# idle worker threads spinning after every parallel region, taking a core from the emulated cores on
# a small machine (a bf16 model test on 2 cores: 26 s with spinning, 11-15 s without). Passive
# workers sleep instead; results do not change, only who waits how. An explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def pytest_collection_finish(session):
    # Collection imported torch, transformers and hypothesis: objects that live for the whole run, and
    # that every full pass of Python's cyclic collector would walk again (~20 % of an op test's CPU,
    # perf). Freezing them leaves the collector only the objects the tests create.
    gc.freeze()
