"""The node's acoustic detector over many recordings, on the 32-bit node interpreter (the
firmware's own frozen code): what `simulators.acoustic_training` fits the network on and
what `bench/acoustic_real.py` measures.

    micropython simulators/acoustic_host.py SAMPLES.raw WINDOW MODE [DETECTOR]

SAMPLES.raw holds int16 windows of WINDOW samples back to back (8 kHz). Each window is heard
by a new detector (`fresh`), as a node that has just started to hear it would, or the file
is one stream heard by one detector (`stream`, WINDOW then only marks where a line is
printed, every WINDOW // 512 frames). Output, one line per window:
    W <index> <first frame raised or -1> <frames active> <fault>
with MODE `features` (each window heard by a new detector), one more line per frame from
the first score on:
    F <index> <frame> <feature> ... <score> <frames the clean series held, or the evidence>
(`features-stream`: the same, one detector over the whole file).
and at the end `T <microseconds spent in process()> <frames>`. DETECTOR names the module
in `device/detect` (default `acoustic`, the node's; `acoustic_evidence`, the physics-first
one under validation, read from the checkout since no image freezes it).
"""

import sys
import time

# After the frozen modules: the node interpreter's own frozen detector runs, not these sources.
sys.path.append(__file__.rsplit("/", 2)[0] if __file__.count("/") >= 2 else ".")

EVIDENCE = len(sys.argv) > 4 and sys.argv[4] == "acoustic_evidence"
if EVIDENCE:
    from device.detect import acoustic_evidence as acoustic  # noqa: E402
else:
    from device.detect import acoustic  # noqa: E402
from device.detect.kernels import zeros  # noqa: E402


def main(path, window, mode):
    frame = zeros("h", acoustic.FRAME_SAMPLES)
    per_window = window // acoustic.FRAME_SAMPLES
    rest = bytearray(2 * (window - per_window * acoustic.FRAME_SAMPLES))
    features = mode.startswith("features")
    if mode == "features-stream":
        mode = "stream"
    spent = 0
    frames = 0
    detector = acoustic.AcousticDetector()
    index = 0
    with open(path, "rb") as f:
        while True:
            if mode != "stream":
                detector = acoustic.AcousticDetector()
                per_window = window // acoustic.FRAME_SAMPLES
            first = -1
            active = 0
            for n in range(per_window):
                if f.readinto(frame) != 2 * acoustic.FRAME_SAMPLES:
                    break
                start = time.ticks_us()
                decided = detector.process(frame)
                spent += time.ticks_diff(time.ticks_us(), start)
                frames += 1
                if decided == acoustic.DRONE and first < 0:
                    first = n
                if detector.active:
                    active += 1
                if features and detector.frames >= acoustic.MIN_FRAMES and detector.fault == acoustic.MIC_OK:
                    last = detector.evidence if EVIDENCE else detector.held
                    print("F", index, n, " ".join(str(v) for v in detector.features), detector.score, last)
            else:
                if mode != "stream" and rest:
                    f.readinto(rest)  # the window's samples after its last whole frame
                print("W", index, first, active, detector.fault)
                index += 1
                continue
            break
    print("T", spent, frames)


main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
