"""Issue 30's speed path: the CPU decides the encoder's precision, bf16 scores match fp32's, and the
keyframe-aware reader returns exactly the frames a full decode gives. Correctness only: no timings."""
import av
import numpy as np
import pytest

from ml.inference import cpu_features
from ml.media import seek
from ml.media.decode import probe, sample_frames
from tests.conftest import ffmpeg

AVX2_ONLY = frozenset({"fpu", "sse4_2", "avx", "avx2", "fma"})
SAPPHIRE_RAPIDS = AVX2_ONLY | {"avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8"}


# --- CPU features and the path chosen --------------------------------------------------------------
def test_precision_falls_back_to_fp32_without_bf16_and_takes_bf16_where_the_cpu_has_it():
    assert cpu_features.choose_precision(AVX2_ONLY, env={}) == "fp32"
    assert cpu_features.choose_precision(frozenset(), env={}) == "fp32"  # flags unknown: fp32
    assert cpu_features.choose_precision(SAPPHIRE_RAPIDS, env={}) == "bf16"
    assert cpu_features.choose_precision(AVX2_ONLY | {"avx512_bf16"}, env={"DETECTOR_PRECISION": "auto"}) == "bf16"
    assert not cpu_features.has_int8_dot(AVX2_ONLY) and cpu_features.has_int8_dot(SAPPHIRE_RAPIDS)


def test_an_env_var_forces_a_path_and_a_wrong_value_is_a_clear_error():
    assert cpu_features.choose_precision(SAPPHIRE_RAPIDS, env={"DETECTOR_PRECISION": "fp32"}) == "fp32"
    assert cpu_features.choose_precision(AVX2_ONLY, env={"DETECTOR_PRECISION": "BF16"}) == "bf16"
    with pytest.raises(ValueError, match="DETECTOR_PRECISION"):
        cpu_features.choose_precision(AVX2_ONLY, env={"DETECTOR_PRECISION": "int4"})


def test_flags_are_read_from_the_kernel_and_described(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n")
    flags = cpu_features.cpu_flags.__wrapped__(str(info))
    assert {"avx2", "avx512_bf16"} <= flags
    assert cpu_features.cpu_flags.__wrapped__(str(tmp_path / "missing")) == frozenset()
    line = cpu_features.describe(AVX2_ONLY)
    assert "avx2" in line and "bf16 matmul: no" in line and line.endswith(
        f"encoder precision: {cpu_features.choose_precision(AVX2_ONLY)}")


def test_threads_follow_the_cores_a_worker_owns():
    cores = len(__import__("os").sched_getaffinity(0))
    assert cpu_features.worker_threads({"DETECTOR_THREADS": "3"}) == 3
    assert cpu_features.worker_threads({}) == max(1, min(2, cores))
    assert cpu_features.worker_threads({"DETECTOR_WORKERS_PER_HOST": str(cores)}) == 1


# --- bf16 scores against fp32 -------------------------------------------------------------------
@pytest.fixture(scope="module")
def face_crops(clips):
    from ml.media.faces import FaceFinder, crop_face

    frames = sample_frames(str(clips["face"]), 2)
    track = next(t for t in FaceFinder().track([f.image for f in frames]) if t.faces)
    return np.stack([crop_face(frames[p].image, track.faces[p].landmarks, 224, 1.5)[0] for p in sorted(track.faces)])


@pytest.fixture(scope="module")
def fp32_reference(face_crops):
    from ml.inference.backends import TorchScorer
    from ml.paths import DEFAULT_CHECKPOINT
    from ml.models.checkpoint import load_checkpoint

    scorer = TorchScorer(load_checkpoint(DEFAULT_CHECKPOINT)[0], 2)
    logits, clip_logit = scorer(face_crops, {})
    return logits, clip_logit, scorer.cams(list(range(len(face_crops))), {})


@pytest.mark.parametrize("emulate", [False, True], ids=["bf16", "bf16-emulated"])
def test_bf16_scores_and_heatmaps_match_fp32_on_real_face_crops(face_crops, fp32_reference, emulate):
    """Native bf16 where the CPU has it (oneDNN emulates it elsewhere: slow but the same numbers), and the
    fp32-kernel emulation that speed_check uses on CPUs without it."""
    from ml.inference.fast_scorer import Bf16Scorer
    from ml.paths import DEFAULT_CHECKPOINT
    from ml.models.checkpoint import load_checkpoint

    crops = face_crops[:1]  # one crop: bf16 without hardware support is slow
    scorer = Bf16Scorer(load_checkpoint(DEFAULT_CHECKPOINT)[0], 2, emulate=emulate)
    timings = {}
    logits, _ = scorer(crops, timings)
    cams = scorer.cams([0], timings)
    ref_logits, _, ref_cams = fp32_reference
    assert {"encoder", "heads", "heatmaps"} <= set(timings)
    assert logits.shape == (1,) and cams.shape == ref_cams[:1].shape
    prob, ref_prob = 1 / (1 + np.exp(-logits)), 1 / (1 + np.exp(-ref_logits[:1]))
    assert np.abs(prob - ref_prob).max() < 0.02 and np.abs(logits - ref_logits[:1]).max() < 0.5, (logits, ref_logits)
    assert np.corrcoef(cams.ravel(), ref_cams[:1].ravel())[0, 1] > 0.98
    # the rounding changes the numbers a little, not nothing (the path really is bf16)
    assert np.abs(logits - ref_logits[:1]).max() > 1e-5


def test_the_predictor_takes_the_bf16_path_when_asked_and_keeps_its_outputs(clips, monkeypatch, tmp_path):
    from ml.inference import Predictor

    monkeypatch.setenv("DETECTOR_PRECISION", "bf16")
    predictor = Predictor.load(backend="onnx", threads=2)
    assert predictor.backend == "bf16"
    result = predictor.predict(str(clips["face"]), frames=2, heatmap_dir=str(tmp_path), max_heatmaps=1)
    assert result.status == "ok" and 0.0 <= result.score <= 1.0
    assert result.clip_parts["frames"] == len(result.frames) and result.clip_parts["rule"] == predictor.card["clip_rule"]
    assert sum(1 for f in result.frames if f.heatmap) == 1
    assert {"decode", "faces", "crop", "encoder", "heads", "heatmaps", "heatmap_files"} <= set(result.timings)


# --- keyframe-aware reading ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def gop_clip(tmp_path_factory, face_video_source):
    """4 s of a real face clip at 25 fps: a keyframe every 25 frames, x264's B-frames (some not referenced)."""
    out = tmp_path_factory.mktemp("seek") / "gop.mp4"
    ffmpeg("-i", str(face_video_source), "-t", "4", "-an", "-r", "25", "-vf", "scale=-2:240", "-c:v", "libx264",
           "-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-bf", "3", "-pix_fmt", "yuv420p", str(out))
    return out


def full_decode(path) -> dict[float, np.ndarray]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        return {round(float(f.time) - start, 3): f.to_ndarray(format="rgb24") for f in container.decode(stream)}


def test_the_default_decode_is_the_exact_one_the_accuracy_check_kept():
    assert seek.decode_mode({}) == "exact" and seek.decode_mode({"DETECTOR_DECODE": "Fast"}) == "fast"


def test_keyframes_are_found_without_decoding(gop_clip):
    keys = seek.keyframe_times(str(gop_clip))
    assert len(keys) == 4 and np.allclose(np.diff(keys), 1.0)


def test_seeking_and_skipping_return_the_frames_a_full_decode_gives(gop_clip):
    every = full_decode(gop_clip)
    fps, rgb = 25.0, (lambda f: f.to_ndarray(format="rgb24"))
    first_at = {x: min(k for k in every if k + 0.5 / fps >= x) for x in every}
    sparse = [0.1, 0.5, 1.7, 2.9, 3.5]  # two in one GOP, the others past keyframes: seeks and skipping
    got = seek.read_at(str(gop_clip), sparse, fps, convert=rgb)
    assert len(got) == len(sparse)
    for (index, t, image), x in zip(got, sparse):
        assert np.array_equal(image, every[t]), f"frame at {t} s differs from the full decode's"
        assert index == round(t * fps) and -0.5 / fps - 1e-6 <= t - x < 4 / fps  # at most a few frames later
    assert any(t != first_at[min(every, key=lambda k: abs(k - x))] for (_, t, _), x in zip(got, sparse)), \
        "no non-reference frame was skipped"
    # Targets closer than SPARSE_GAP frames: nothing skipped, every target its own frame, as a full decode takes it.
    dense = [1.7, 1.74, 1.78, 3.0]
    got = seek.read_at(str(gop_clip), dense, fps, convert=rgb)
    assert [t for _, t, _ in got] == [first_at[min(every, key=lambda k: abs(k - x))] for x in dense]
    for _, t, image in got:
        assert np.array_equal(image, every[t])


def test_sample_frames_fast_and_exact_agree_within_a_few_frames(gop_clip, monkeypatch):
    info = probe(str(gop_clip))
    monkeypatch.setenv("DETECTOR_DECODE", "exact")
    exact = sample_frames(str(gop_clip), 6, info)
    monkeypatch.setenv("DETECTOR_DECODE", "fast")
    fast = sample_frames(str(gop_clip), 6, info)
    assert len(exact) == len(fast) == 6
    for a, b in zip(exact, fast):
        assert -1e-6 <= b.time - a.time < 4 / info.fps and b.image.shape == a.image.shape
    monkeypatch.setenv("DETECTOR_DECODE", "sometimes")
    with pytest.raises(ValueError, match="DETECTOR_DECODE"):
        sample_frames(str(gop_clip), 6, info)


# --- a worker's pool process starts warm --------------------------------------------------------
def test_a_pool_process_loads_the_detector_as_it_starts(transactional_db, monkeypatch):
    from detection import detector, warm

    monkeypatch.setitem(detector._loaded, "key", None)
    monkeypatch.setitem(detector._loaded, "predictor", None)
    warm.warm_start().join(timeout=300)
    assert detector._loaded["predictor"] is not None
    assert detector.get_predictor() is detector._loaded["predictor"]  # the first job finds it loaded
