"""Provenance test media the suite makes itself: a test PKI, files signed with c2pa-python, and AI labels.

Two certificate authorities are made with `cryptography`: a trusted one (its root goes in the trust-anchor
file the worker reads, TRUST_ANCHORS) and an unknown one. Signed with c2pa-python's Builder:
a valid AI-generated claim (c2pa.created, digitalSourceType trainedAlgorithmicMedia), a valid camera
capture, that AI file edited after signing, an AI claim from the unknown authority's signer and a damaged
manifest; written by hand: an XMP packet with Iptc4xmpExt:DigitalSourceType and an EXIF Software field.
"""
from __future__ import annotations

import datetime as dt
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
# The worker reads its trust anchors from here (conftest passes it as PROVENANCE_TRUST_ANCHORS).
TRUST_ANCHORS = Path(tempfile.gettempdir()) / f"portal-test-trust-anchors-{os.getpid()}.pem"

AI_SIGNER = "Test Imaging AI Lab"
CAMERA_SIGNER = "Test Camera Works"
UNKNOWN_SIGNER = "Unknown Signer Ltd"


@dataclass(frozen=True)
class SigningKey:
    chain_pem: bytes  # the signing certificate, then its issuer
    key_pem: bytes


def _name(org: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{org} signing"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])


def _certificate(subject: str, issuer_name, public_key, signing_key, *, ca: bool):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer_name).public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if not ca:  # C2PA signing certificates need an extended key usage
        builder = (builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
                                  critical=False))
    return builder.sign(signing_key, hashes.SHA256())


class CertificateAuthority:
    """A root CA (ES256) that issues C2PA signing certificates."""

    def __init__(self, name: str):
        from cryptography.hazmat.primitives.asymmetric import ec

        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(name)
        self.cert = _certificate(name, self.name, self.key.public_key(), self.key, ca=True)

    @property
    def root_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, org: str) -> SigningKey:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(org, self.name, key.public_key(), self.key, ca=False)
        return SigningKey(
            chain_pem=cert.public_bytes(serialization.Encoding.PEM) + self.root_pem,
            key_pem=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()),
        )


def sign(source: bytes, mime: str, signing: SigningKey, *, generator: str, source_type: str,
         edits: bool = False) -> bytes:
    """``source`` with a C2PA manifest: created (with a digital source type), optionally edited."""
    import c2pa

    actions = [{"action": "c2pa.created", "digitalSourceType": IPTC + source_type,
                "softwareAgent": {"name": generator}}]
    if edits:
        actions.append({"action": "c2pa.color_adjustments", "softwareAgent": {"name": generator}})
    manifest = {
        "claim_generator_info": [{"name": generator, "version": "1.0"}],
        "title": "test media",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}],
    }
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, signing.chain_pem,
                                                      signing.key_pem, None))
    context = c2pa.Context(c2pa.Settings.from_dict({"builder": {"thumbnail": {"enabled": False}}}))
    with signer, c2pa.Builder(manifest, context) as builder:
        out = io.BytesIO()
        builder.sign(signer, mime, io.BytesIO(source), out)
    return out.getvalue()


def edited_after_signing(signed_jpeg: bytes) -> bytes:
    """One byte of the picture's compressed data changed: it still decodes, the hash no longer matches."""
    data = bytearray(signed_jpeg)
    scan = data.rfind(b"\xff\xda")
    position = (scan + len(data)) // 2
    while data[position] in (0xFF, 0x00) or data[position - 1] == 0xFF:
        position += 1
    data[position] ^= 0x01
    return bytes(data)


def damaged_manifest(signed: bytes) -> bytes:
    """The claim's JUMBF box overwritten: a manifest is there, but cannot be parsed."""
    data = bytearray(signed)
    at = data.find(b"c2pa.claim")
    data[at + 20:at + 80] = b"\xff" * 60
    return bytes(data)


def xmp_packet(source_type: str, creator_tool: str = "") -> bytes:
    tool = f' xmp:CreatorTool="{creator_tool}"' if creator_tool else ""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        f' xmlns:xmp="http://ns.adobe.com/xap/1.0/"{tool}'
        f' Iptc4xmpExt:DigitalSourceType="{IPTC}{source_type}"/>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def labelled_jpeg(source: bytes, *, source_type: str = "trainedAlgorithmicMedia", software: str = "Midjourney") -> bytes:
    """A JPEG with an EXIF Software field and an XMP packet (APP1) naming its digital source type."""
    from PIL import Image

    with Image.open(io.BytesIO(source)) as image:
        exif = Image.Exif()
        exif[0x0131] = software
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=92, exif=exif)
    data = out.getvalue()
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + xmp_packet(source_type, creator_tool=software)
    segment = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    return data[:2] + segment + data[2:]


@dataclass(frozen=True)
class ProvenanceSet:
    trusted: CertificateAuthority
    unknown: CertificateAuthority
    files: dict[str, bytes]  # name -> bytes


# What each file must show: (Content Credentials status, words on the page, AI claim flag, AI label flag).
EXPECTED = {
    "ai-signed.jpg": ("valid", f"Content Credentials: valid, signed by {AI_SIGNER}, says: made with an AI tool",
                      True, False),
    "camera-signed.jpg": ("valid", f"Content Credentials: valid, signed by {CAMERA_SIGNER}, says: captured by a "
                                   "digital camera, no edits recorded", False, False),
    "edited-after-signing.jpg": ("invalid", "Content Credentials: present but invalid: the file was changed after "
                                            "signing", False, False),
    "unknown-signer.jpg": ("untrusted", f"signed by {UNKNOWN_SIGNER}, but the signer is not on this portal's "
                                        "trust list", False, False),
    "damaged-manifest.jpg": ("unreadable", "Content Credentials: present but damaged", False, False),
    "xmp-labelled.jpg": ("none", "Iptc4xmpExt:DigitalSourceType says made with an AI tool", False, True),
}


def provenance_set(face_jpeg: bytes) -> ProvenanceSet:
    """Every fixture, made from one JPEG of a face (so the detector finishes and the item can be flagged)."""
    trusted, unknown = CertificateAuthority("Portal Test Root CA"), CertificateAuthority("Unknown Root CA")
    ai = sign(face_jpeg, "image/jpeg", trusted.issue(AI_SIGNER), generator="TestGen Image AI",
              source_type="trainedAlgorithmicMedia")
    files = {
        "ai-signed.jpg": ai,
        "camera-signed.jpg": sign(face_jpeg, "image/jpeg", trusted.issue(CAMERA_SIGNER),
                                  generator="Test Camera M11", source_type="digitalCapture"),
        "edited-after-signing.jpg": edited_after_signing(ai),
        "unknown-signer.jpg": sign(face_jpeg, "image/jpeg", unknown.issue(UNKNOWN_SIGNER), generator="TestGen",
                                   source_type="trainedAlgorithmicMedia"),
        "damaged-manifest.jpg": damaged_manifest(ai),
        "xmp-labelled.jpg": labelled_jpeg(face_jpeg),
    }
    return ProvenanceSet(trusted, unknown, files)
