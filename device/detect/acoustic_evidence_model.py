"""The physics-first acoustic detector's evidence model, fitted by
simulators/acoustic_evidence_training.py on 2026-12-06 from the shared real recordings;
regenerate it with `python -m simulators.acoustic_evidence_training`, do not edit it. A frame's
log-odds (UNIT per unit) = (WEIGHTS . features >> SHIFT) + BIAS, at most NO_SERIES with fewer
than MIN_HARMONICS harmonics out, clipped to CLIP_LOW..CLIP_HIGH; evidence = evidence -
evidence >> DECAY_SHIFT + log-odds, within 0..CAP; a drone is reported at ON and cleared under
OFF. Features: comb score, comb mean, harmonics, steady, flutter, level spread, level slope.
Validated leaving each drone model out (share of seconds reported from the 3rd on): indoor
bebop 0.18, indoor membo 0.55, outdoor bebop2 0.39, outdoor matrice100 0.62, outdoor mavic
0.50, outdoor phantom 1.00, outdoor spark 1.00; everyday sounds with a fold held out: 0 of 1152
one-second clips.
"""

from array import array

UNIT = 1024
SHIFT = 0
WEIGHTS = array("h", (0, 0, 0, 273, 38, -110, -31))
BIAS = -1934
CLIP_LOW = -3072
CLIP_HIGH = 1536
DECAY_SHIFT = 4
CAP = 20480
ON = 8192
OFF = 3072
MIN_HARMONICS = 2
NO_SERIES = -512
MIN_FLUTTER = 3
