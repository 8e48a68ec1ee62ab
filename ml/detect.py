"""Judge media files from the command line.

    python -m ml.detect [--json] [--frames N] [--heatmaps DIR] [--backend torch|onnx] [--no-voice] PATH [PATH ...]

Images and videos go to the face detector; audio files (wav, mp3, m4a/aac, ogg/opus, flac, told by their
content) to the voice detector, whose result is the row's ``voice`` (and its score the row's score); a
video's sound track is judged too unless --no-voice. With --json: one JSON object per input, one per line,
in input order, with exactly the keys in ``JSON_KEYS``. A bad file gives status "error" with its message; the exit code is 0 unless the
arguments themselves are wrong.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from ml.paths import DEFAULT_CHECKPOINT as DEFAULT_PATH

JSON_KEYS = ("path", "kind", "status", "score", "label", "frames_analysed", "faces_found",
             "model_version", "seconds", "error", "voice")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ml.detect", description="Is this media a deepfake?")
    parser.add_argument("paths", nargs="+", metavar="PATH")
    parser.add_argument("--json", action="store_true", help="one JSON object per input per line")
    parser.add_argument("--frames", type=_positive, default=None, help="frames to sample per video (default 32)")
    parser.add_argument("--heatmaps", metavar="DIR", help="write Grad-CAM heatmaps under DIR")
    parser.add_argument("--backend", choices=("torch", "onnx"), default="torch")
    parser.add_argument("--no-voice", action="store_true", help="do not judge videos' sound tracks")
    parser.add_argument("--voice-model", default=None, help="voice ONNX graph (default ml/weights/voice.onnx)")
    parser.add_argument("--checkpoint", default=os.environ.get("DETECTOR_CHECKPOINT", str(DEFAULT_PATH)))
    return parser.parse_args(argv)


def summary(prediction) -> dict:
    frames = {f.index for f in prediction.frames}
    return {
        "path": prediction.path, "kind": prediction.kind, "status": prediction.status,
        "score": prediction.score, "label": prediction.label, "frames_analysed": len(frames),
        "faces_found": prediction.faces_found, "model_version": prediction.model_version,
        "seconds": prediction.seconds, "error": prediction.error, "voice": None,
    }


def voice_summary(voice) -> dict:
    """An audio file's row: the voice result in the face rows' keys, its details under ``voice``."""
    detail = {k: v for k, v in voice.to_dict().items() if k != "path"}
    return {
        "path": voice.path, "kind": "audio", "status": voice.status, "score": voice.score,
        "label": voice.label, "frames_analysed": 0, "faces_found": 0, "model_version": voice.model_version,
        "seconds": voice.elapsed_s, "error": voice.error, "voice": detail,
    }


def _voice_words(voice: dict) -> str:
    if voice["status"] == "ok":
        return (f"voice {voice['label'].upper()} score {voice['score']:.3f} "
                f"({voice['speech_s']:.1f} s of speech in {voice['duration_s']:.1f} s)")
    return f"voice {voice['status'].upper()} ({voice['error']})"


def human(row: dict) -> str:
    if row["kind"] == "audio":
        return f"{row['path']}: {_voice_words(row['voice'])} [{row['seconds']:.2f} s]"
    line = _face_words(row)
    return f"{line}; {_voice_words(row['voice'])}" if row.get("voice") else line


def _face_words(row: dict) -> str:
    if row["status"] == "ok":
        verdict = f"{row['label'].upper():4s} score {row['score']:.3f}"
        return f"{row['path']}: {verdict} ({row['frames_analysed']} frames, {row['seconds']:.2f} s)"
    if row["status"] == "no_face":
        return f"{row['path']}: NO FACE ({row['error']})"
    return f"{row['path']}: ERROR {row['error']}"


def main(argv=None) -> int:
    args = parse_args(argv)
    from ml.inference.predictor import Predictor  # after argument errors, which need no model

    from ml.audio import VoicePredictor
    from ml.audio.decode import is_audio_file

    predictor, voice = None, None
    for i, path in enumerate(args.paths):
        audio = is_audio_file(path)
        if (audio or not args.no_voice) and voice is None:
            voice = VoicePredictor.load(args.voice_model)
        if audio:
            row = voice_summary(voice.predict(path))
            print(json.dumps(row) if args.json else human(row), flush=True)
            continue
        predictor = predictor or Predictor.load(args.checkpoint, backend=args.backend)
        heatmap_dir = os.path.join(args.heatmaps, f"{i:03d}_{os.path.basename(path)}") if args.heatmaps else None
        row = summary(predictor.predict(path, frames=args.frames, heatmap_dir=heatmap_dir))
        if not args.no_voice and row["kind"] == "video":
            row["voice"] = {k: v for k, v in voice.predict(path).to_dict().items() if k != "path"}
        print(json.dumps(row) if args.json else human(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
