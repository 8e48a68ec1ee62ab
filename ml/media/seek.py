"""Read a few frames of a video at given instants, decoding as little as the file allows.

Two savings over decoding every frame up to the last instant:
- **Keyframe-aware seeking.** The keyframes' times are read first (demuxing only: no picture is
  decoded). A target with a keyframe between the decoder's position and itself is reached by seeking
  to that keyframe; otherwise decoding goes on from where it is (a seek would land on the keyframe
  behind it and decode the same frames again).
- **Non-reference frames skipped** (H.264, HEVC: FFmpeg's ``skip_frame=NONREF``): no other frame is
  predicted from them, so the frames that are decoded come out bit-identical to a full decode; the
  frame taken for an instant is then the first *reference* frame at or after it (at most two or three
  frames later with x264's defaults) instead of the first frame. Only for sparse targets (``SPARSE_GAP``).

``DETECTOR_DECODE=fast`` turns this reader on; the default, ``exact``, decodes every frame (``ml.media.decode``'s
own loop): on a subset of dev the frames taken a frame or two later moved dev talking heads' AUC by -0.017, more
than the 0.01 a default may move it (``python -m ml.evaluation.speed_check``; the model card's speed section).
"""
from __future__ import annotations

import os

import av
import numpy as np

# Codecs whose non-reference frames FFmpeg can skip with frames decoded the same either way.
NONREF_CODECS = ("h264", "hevc")
DECODE_MODES = ("fast", "exact")
# Non-reference frames are skipped only when targets are at least this many frames apart: closer targets
# could otherwise share one reference frame and fewer frames would come back than were asked for.
SPARSE_GAP = 4


def decode_mode(env: dict | None = None) -> str:
    mode = ((os.environ if env is None else env).get("DETECTOR_DECODE") or "exact").strip().lower()
    if mode not in DECODE_MODES:
        raise ValueError(f"DETECTOR_DECODE={mode!r}: expected one of {', '.join(DECODE_MODES)}")
    return mode


def keyframe_times(path: str) -> list[float]:
    """Times (seconds, the stream's clock) of the video's keyframes, from its packets: nothing decoded."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        return sorted(float(p.pts * stream.time_base) for p in container.demux(stream)
                      if p.is_keyframe and p.pts is not None)


def read_at(path: str, targets: list[float], fps: float, *, skip_nonref: bool = True,
            convert=lambda frame: frame) -> list[tuple[int, float, object]]:
    """(frame index, time from the stream's start, ``convert(PyAV frame)``) for each target instant (seconds from the
    stream's start, ascending), in order; a frame that serves several targets comes once. Index = time
    x fps, rounded (the decoder's count is unknown after a seek)."""
    keys = keyframe_times(path)
    half_frame = 0.5 / max(fps, 1.0)
    out: list[tuple[int, float, object]] = []
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        gaps = np.diff(targets) * fps if len(targets) > 1 else np.array([np.inf])
        if skip_nonref and stream.codec_context.name in NONREF_CODECS and gaps.min() >= SPARSE_GAP:
            stream.codec_context.skip_frame = "NONREF"
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        pending = [start + t for t in targets]
        position = float("-inf")  # time of the last decoded frame

        def keyframe_ahead() -> float | None:
            """The last keyframe at or before the next target, if the decoder has not reached it yet."""
            behind = [k for k in keys if k <= pending[0] + half_frame]
            return behind[-1] if behind and behind[-1] > position + half_frame else None

        while pending:
            key = keyframe_ahead()
            if key is not None:
                container.seek(int(round(key / stream.time_base)), stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                position = float(frame.time)
                if position + half_frame < pending[0]:
                    continue
                out.append((round((position - start) * fps), round(position - start, 3), convert(frame)))
                while pending and pending[0] <= position + half_frame:
                    pending.pop(0)
                if not pending or keyframe_ahead() is not None:
                    break  # done, or a seek gets to the next target sooner
            else:
                break  # end of stream: the container claimed more than it holds
    return out
