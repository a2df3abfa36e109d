"""ExecuTorch without Python bindings or torch: ``et_runner.cpp``, compiled on the board.

``build`` finds the executorch wheel (without importing it) and compiles the runner against the
wheel's own headers and shared libraries, once per (wheel, source); ``runner`` invokes the
binary and reads its JSON and raw outputs.
"""
