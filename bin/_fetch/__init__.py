"""Fetching for bin/fetch_data: package managers, tensorflow_datasets, cache.

This is a helper of the ``bin/fetch_data`` script, not part of the
``tfp_flows`` library: setup.py does not install it, so the library cannot
depend on it, and the script finds it because Python puts the script's
directory (``bin/``) first on ``sys.path``. It imports from the library only
what both sides must agree on: the recorded digests
(``tfp_flows.data.sources``), the cache layout and manifest
(``tfp_flows.data.cache``) and the IDX parser (``tfp_flows.data.idx``).

Modules: ``fetch`` (the ``fetch`` entry point: check the cache, try the
sources, verify, store atomically) and ``providers`` (the Debian, npm and
tensorflow_datasets sources).
"""
