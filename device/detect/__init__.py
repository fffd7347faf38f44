"""On-node detectors: fence (accelerometer), acoustic (drone rotors), impact (packages).

Each detector is fed one block of samples at a time, allocates nothing per block, and says
what it found through its return value and a few attributes that the node reads to build
the event body.
"""
