"""Reading provenance without Django: each signed fixture's Content Credentials status, the unsigned AI labels
of images and video containers, and hostile input (damaged, over-large, slow or hungry manifests) ending in a
clear status while the reading process is replaced, never a crash."""
from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from provenance import manifest
from provenance.c2pa_reader import ReadLimits, read_manifest_store
from provenance.labels import read_labels, xmp_labels
from provenance.words import c2pa_sentence
from tests import provenance_media as pm
from tests.conftest import ffmpeg


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    """The signed and labelled fixtures (made from a noise picture: no face needed here), on disk."""
    out = tmp_path_factory.mktemp("provenance")
    buffer = io.BytesIO()
    Image.effect_noise((480, 360), 50).convert("RGB").save(buffer, "JPEG", quality=90)
    made = pm.provenance_set(buffer.getvalue())
    anchors = out / "anchors.pem"
    anchors.write_bytes(made.trusted.root_pem)
    paths = {}
    for name, data in made.files.items():
        paths[name] = out / name
        paths[name].write_bytes(data)
    return {"paths": paths, "anchors": str(anchors), "set": made, "dir": out, "plain": buffer.getvalue()}


def summary_of(path, anchors="", limits=ReadLimits(), mime="image/jpeg"):
    return manifest.summarise(read_manifest_store(str(path), mime=mime, anchors=anchors, limits=limits))


@pytest.mark.parametrize("name", list(pm.EXPECTED))
def test_each_fixture_gets_its_content_credentials_status(fixtures, name):
    status, words, _, ai_label = pm.EXPECTED[name]
    summary = summary_of(fixtures["paths"][name], fixtures["anchors"])
    assert summary.status == status, summary
    sentence = c2pa_sentence(status=summary.status, detail=summary.detail, signer=summary.signer, says=summary.says)
    labels = read_labels(str(fixtures["paths"][name]), kind="image")
    shown = sentence + " " + " ".join(f"{label.field} says {label.meaning}" for label in labels)
    assert words in shown
    assert any(label.ai for label in labels) == ai_label


def test_the_ai_claim_carries_its_signer_generator_and_actions(fixtures):
    summary = summary_of(fixtures["paths"]["ai-signed.jpg"], fixtures["anchors"])
    assert summary.signer == pm.AI_SIGNER and summary.claim_generator == "TestGen Image AI 1.0"
    assert summary.digital_source_type == "trainedAlgorithmicMedia" and summary.ai_generated
    assert summary.actions == [{"action": "c2pa.created", "digital_source_type": "trainedAlgorithmicMedia",
                                "software_agent": "TestGen Image AI"}]
    assert summary.validation_codes == []


def test_without_a_trust_list_every_signer_is_untrusted(fixtures):
    """The default deployment has no trust anchors: a good signature alone is not "valid"."""
    summary = summary_of(fixtures["paths"]["ai-signed.jpg"], anchors="")
    assert summary.status == manifest.UNTRUSTED and summary.ai_generated
    assert manifest.UNTRUSTED_CODE in summary.validation_codes


def test_a_file_without_a_manifest_has_none(fixtures):
    plain = fixtures["dir"] / "plain.jpg"
    plain.write_bytes(fixtures["plain"])
    assert summary_of(plain, fixtures["anchors"]).status == manifest.NONE
    assert read_labels(str(plain), kind="image") == []


def test_a_signed_clip_is_read_and_its_container_tags_give_labels(fixtures):
    clip = fixtures["dir"] / "clip.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "1", "-c:v", "libx264", "-pix_fmt",
           "yuv420p", "-metadata", "comment=Made with Sora", str(clip))
    labels = read_labels(str(clip), kind="video")
    assert any(label.ai and label.field == "comment" and "sora" in label.meaning.lower() for label in labels), labels
    signed = fixtures["dir"] / "clip-signed.mp4"
    signed.write_bytes(pm.sign(clip.read_bytes(), "video/mp4", fixtures["set"].trusted.issue(pm.AI_SIGNER),
                               generator="TestGen Video AI", source_type="trainedAlgorithmicMedia"))
    summary = summary_of(signed, fixtures["anchors"], mime="video/mp4")
    assert summary.status == manifest.VALID and summary.ai_generated, summary


def test_an_mp4_xmp_box_is_read(fixtures):
    """XMP in a top-level uuid box (as Adobe tools write it) is found by the box walk."""
    clip = fixtures["dir"] / "clip-xmp.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "1", "-c:v", "libx264", "-pix_fmt",
           "yuv420p", str(clip))
    packet = pm.xmp_packet("compositeWithTrainedAlgorithmicMedia")
    box = (24 + len(packet)).to_bytes(4, "big") + b"uuid" + bytes.fromhex("be7acfcb97a942e89c71999491e3afac")
    clip.write_bytes(clip.read_bytes() + box + packet)
    labels = read_labels(str(clip), kind="video")
    assert [label.meaning for label in labels if label.ai] == ["contains elements made with an AI tool"]


def test_png_generator_settings_and_xmp_forms_are_labels(tmp_path):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a portrait, Steps: 20, Sampler: Euler a")
    path = tmp_path / "sd.png"
    Image.new("RGB", (32, 32)).save(path, pnginfo=info)
    labels = read_labels(str(path), kind="image")
    assert labels and labels[0].ai and "Stable Diffusion" in labels[0].meaning
    element = (b'<Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture'
               b'</Iptc4xmpExt:DigitalSourceType>')
    assert [(label.meaning, label.ai) for label in xmp_labels(element)] == [("captured by a digital camera", False)]


def test_a_manifest_over_the_kept_size_is_cut_to_its_essentials(fixtures):
    """A large manifest (~1 MB of an unknown assertion): read, summarised, and only its essentials kept."""
    import c2pa

    key = fixtures["set"].trusted.issue(pm.AI_SIGNER)
    items = [{"k": "x" * 1000, "n": n} for n in range(900)]
    big = {"claim_generator_info": [{"name": "Big", "version": "1"}], "assertions": [
        {"label": "c2pa.actions", "data": {"actions": [
            {"action": "c2pa.created", "digitalSourceType": pm.IPTC + "trainedAlgorithmicMedia"}]}},
        {"label": "com.example.unknown", "data": {"items": items}}]}
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, key.chain_pem, key.key_pem, None))
    context = c2pa.Context(c2pa.Settings.from_dict({"builder": {"thumbnail": {"enabled": False}}}))
    with signer, c2pa.Builder(big, context) as builder:
        out = io.BytesIO()
        builder.sign(signer, "image/jpeg", io.BytesIO(fixtures["plain"]), out)
    path = fixtures["dir"] / "big.jpg"
    path.write_bytes(out.getvalue())
    answer = read_manifest_store(str(path), mime="image/jpeg", anchors=fixtures["anchors"],
                                 limits=ReadLimits(max_json=64 * 1024))
    assert answer.truncated and len(answer.store) < 64 * 1024
    assert json.loads(answer.store)["active_manifest"]
    summary = manifest.summarise(answer)
    assert summary.status == manifest.VALID and summary.signer == pm.AI_SIGNER


def test_slow_hungry_or_over_large_reads_are_not_checked_and_the_reader_recovers(fixtures):
    signed, anchors = fixtures["paths"]["ai-signed.jpg"], fixtures["anchors"]
    slow = summary_of(signed, anchors, limits=ReadLimits(timeout=0.0001))
    assert slow.status == manifest.NOT_CHECKED and "took over" in slow.detail
    hungry = summary_of(signed, anchors, limits=ReadLimits(memory_mb=20))  # the library cannot even load
    assert hungry.status == manifest.NOT_CHECKED and "more than 20 MB" in hungry.detail
    large = summary_of(signed, anchors, limits=ReadLimits(max_bytes=1000))
    assert large.status == manifest.NOT_CHECKED and "not checked" in large.detail
    # Each time the reading process was replaced; the next file is read as usual.
    assert summary_of(signed, anchors).status == manifest.VALID


@pytest.mark.parametrize("data", [b"", b"\xff\xd8\xff" + b"\x00" * 100, b"garbage" * 100])
def test_garbage_gets_a_status_never_an_exception(tmp_path, data):
    path = tmp_path / "bad.jpg"
    path.write_bytes(data)
    assert summary_of(path).status in (manifest.NONE, manifest.UNREADABLE, manifest.NOT_CHECKED)
