"""The web page: draw a digit and watch it go through a stored run's network.

``settings`` (one object for every knob), ``schemas`` (the JSON the API speaks),
``service`` (all logic: runs, figures, predictions; no FastAPI), ``bodies`` (reading
request bodies within limits), ``app`` (``create_app``: thin FastAPI routes),
``server`` (uvicorn: ``run_server`` for ``threefigures serve``, ``BackgroundServer``
for tests and benchmarks) and ``static/`` (plain HTML, CSS and JS; no build step).
FastAPI is imported only here.
"""
