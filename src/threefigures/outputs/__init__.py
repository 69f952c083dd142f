"""What a run produces: its figures and report (figures.py, report.py), the "Looking inside"
views (inside/), predictions and explanations for a user's inputs (predict.py, explain.py),
the augmentation preview, the device benchmark figure and the ONNX export. Each module is
imported on its own (nothing here), so a command pays only for what it uses."""
