"""The article's Figure 10: what networks like the ones in Figures 1–3 do in the world.

Each application is a self-contained pipeline from raw material to measured results, among
them ``driving/`` (vehicle control from a camera, learned by imitation in gymnasium's
CarRacing: ``driving.run.run_drive``).
"""
