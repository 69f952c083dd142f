"""Driving from a camera, learned by imitation (behaviour cloning) in gymnasium's CarRacing.

- ``simulator``: the CarRacing wrapper — seeded tracks, the car's pose, tiles visited, on/off
  road — and the camera frame only for drivers that look (no torch);
- ``expert``: pure pursuit on the track's waypoints, and the steering noise that makes it
  show recoveries (no torch);
- ``recording``: the expert's drives → frames and labels in memory (no torch);
- ``model``: ``DriverConfig`` → ``DriverCNN``, frame → (steer, gas); safetensors + JSON;
- ``training``: plain functions that fit and score the network on in-memory tensors;
- ``evaluation``: closed-loop drives on unseen tracks (network, expert, constant, random);
- ``run``: ``run_drive(config, out)``, the whole pipeline, its figures, drive.json and
  drive.html.

The submodules are imported by name (``from threefigures.applications.driving.run import
run_drive``): this file imports nothing, so the collection workers start without torch.
"""
