"""Speed of the voice analysis of a 10-second clip, warm (decode, voice activity, features, ONNX, calibration).

    python bench/voice_speed.py [--runs 11] [--threads 1] [--onnx P]

The clip is made here: speech from shared/data/audio/samples repeated to 10 s and encoded as MP3 at
64 kbit/s (an upload's usual form). Prints the median and spread of ``VoicePredictor.predict`` over
--runs after one warm-up call, and the share of each stage. Target (issue 29): <= 0.3 s on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SAMPLES = Path(os.environ.get("DEEPFAKE_DATA", REPO.parent / "shared" / "data")) / "audio" / "samples"


def make_clip(out: Path) -> Path:
    source = sorted(SAMPLES.glob("*.flac"))[0]
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-stream_loop", "-1", "-i",
                    str(source), "-t", "10", "-ar", "44100", "-b:a", "64k", str(out)], check=True)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--onnx", default=None)
    args = parser.parse_args(argv)
    from ml.audio import VoicePredictor
    from ml.audio.decode import load_audio
    from ml.audio.predictor import prepare

    vp = VoicePredictor.load(args.onnx, threads=args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "ten_seconds.mp3")
        vp.predict(clip)  # warm-up
        totals, stages = [], {"decode": [], "vad+features": [], "network": []}
        for _ in range(args.runs):
            t0 = time.perf_counter()
            result = vp.predict(clip)
            totals.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            audio = load_audio(clip)
            t1 = time.perf_counter()
            _, feats = prepare(audio.samples, vp.front_end)
            t2 = time.perf_counter()
            vp.frame_logits(feats)
            t3 = time.perf_counter()
            for name, value in zip(stages, (t1 - t0, t2 - t1, t3 - t2)):
                stages[name].append(value)
    med = statistics.median(totals)
    print(f"voice analysis of a 10 s MP3 ({result.status}, score {result.score:.3f}, model {vp.version}), "
          f"{args.threads} ONNX thread(s), {os.cpu_count()} CPUs visible:")
    print(f"  median {med:.3f} s over {args.runs} warm runs (min {min(totals):.3f}, max {max(totals):.3f}); "
          f"target <= 0.3 s: {'met' if med <= 0.3 else 'NOT met'}")
    print("  stages (median): " + ", ".join(f"{k} {statistics.median(v):.3f} s" for k, v in stages.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
